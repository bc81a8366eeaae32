"""Staff console blueprint at /console/: server-rendered pages over the same
domain functions the API uses. Every view works inside the signed-in staff
user's organisation; another organisation's object is a 404.
"""
from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console")

from . import views, member_views, staff_views, campaign_views  # noqa: E402,F401
from . import coupon_views, tier_views, audience_views  # noqa: E402,F401
from . import mission_views, referral_views, event_views  # noqa: E402,F401
from . import report_views  # noqa: E402,F401
