"""Embeddable signup forms (mounted at /embed): the page a partner site frames
and the script that frames it.

The page lives in a third-party iframe, so it sets no cookie (browsers drop
them there): its CSRF protection is a signed token in the page, bound to the
form and short-lived. Its `Content-Security-Policy: frame-ancestors` lists
only the form's allowed origins; every other page of the app sends 'none'.
"""
from flask import Blueprint

bp = Blueprint("embed", __name__, url_prefix="/embed")

from . import views  # noqa: E402,F401
