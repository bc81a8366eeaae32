"""Staff console blueprint at /console/."""
from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console")

from . import views  # noqa: E402,F401
