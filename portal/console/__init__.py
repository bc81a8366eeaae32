"""Staff console blueprint at /console/: server-rendered pages over the same
domain functions the API uses. Every view works inside the signed-in staff
user's organisation; another organisation's object is a 404.

Each area has `<area>_views.py` (routes), `<area>_forms.py` (forms, shape only)
and templates in `templates/console/<things>/`; see portal/README.md. What the usual
pages of a resource share (finding one, its new and edit pages, its switch) is in
`resources.py`. This
module holds what every page shares: the layout's context and the error pages.
"""
from flask import Blueprint, render_template
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from ..domain.errors import NotFound, PermissionDenied
from ..extensions import db
from . import navigation
from .rendering import format_number, format_signed, format_when
from .sign_in_forms import LogoutForm

bp = Blueprint("console", __name__, url_prefix="/console")


def is_staff() -> bool:
    return current_user.is_authenticated and getattr(current_user, "kind", None) == "staff"


@bp.context_processor
def console_context():
    context = {"when": format_when, "num": format_number, "signed": format_signed, "is_staff": is_staff()}
    if context["is_staff"]:
        context["nav_items"] = navigation.visible_items(current_user)
        context["logout_form"] = LogoutForm()
        context["staff_user"] = current_user.user
    return context


@bp.errorhandler(403)
@bp.errorhandler(PermissionDenied)
def forbidden(error):
    db.session.rollback()
    return render_template("console/errors/403.html"), 403


@bp.errorhandler(404)
@bp.errorhandler(NotFound)
def not_found(error):
    db.session.rollback()
    return render_template("console/errors/404.html"), 404


@bp.errorhandler(CSRFError)
def csrf_failed(error):
    return render_template("console/errors/400.html", reason=error.description), 400


from . import sign_in_views, dashboard_views, member_views, staff_views  # noqa: E402,F401
from . import campaign_views, coupon_views, tier_views, audience_views  # noqa: E402,F401
from . import mission_views, referral_views, event_type_views  # noqa: E402,F401
from . import signup_form_views  # noqa: E402,F401  (embeddable signup forms)
from . import partner_app_views  # noqa: E402,F401  (partner apps, OAuth clients)
from . import webhook_views  # noqa: E402,F401  (partner webhooks)
from . import report_views  # noqa: E402,F401
from . import order_views  # noqa: E402,F401  (orders and the staff actions on them)
from . import job_views  # noqa: E402,F401  (bulk imports and grants)
