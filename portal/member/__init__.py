"""Member portal blueprint: signup, login, wallet, card, coupons, referrals, profile (mounted at /).

Sessions carry "member:<id>:<fingerprint>"; the fingerprint changes with the
password and on erasure, which ends older sessions. Staff sessions are not
accepted here, and member sessions are not accepted by the console.

Each area has `<area>_views.py` and `<area>_forms.py`; page `member.<page>`
renders `templates/member/<page>.html` (see portal/README.md). This module
holds what every page shares: who is signed in, whose portal this is, the
layout's context and the error pages.
"""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, current_app, g, make_response, redirect, render_template, request, url_for
from flask_babel import format_number, get_locale, get_translations
from flask_babel import gettext as _
from flask_login import UserMixin, current_user
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from ..auth import member_loaders
from ..domain import members, self_service
from ..domain.members import Member
from ..domain.organizations import Organization
from ..domain.self_service import N_
from ..extensions import db, htmx
from ..i18n import LANGUAGES

bp = Blueprint("member", __name__)

# Pages in the member menu, in order.
NAV = [("member.wallet", N_("Wallet")), ("member.card", N_("Card")), ("member.coupons", N_("Coupons")),
       ("member.referrals", N_("Referrals")), ("member.profile", N_("Profile"))]


class MemberSession(UserMixin):
    kind = "member"

    def __init__(self, member: Member, organization: Organization | None = None, page_read=None):
        self.member = member
        self._organization = organization  # loaded with the member by the session loader
        self.page_read = page_read  # what the page asked to read with the member (member_required's `loads`)

    @property
    def organization(self) -> Organization:
        """The member's organisation (every page shows its name)."""
        if self._organization is None:
            self._organization = db.session.get(Organization, self.member.organization_id)
        return self._organization

    def get_id(self) -> str:
        return f"member:{self.member.id}:{self_service.session_fingerprint(self.member)}"

    @property
    def locale(self) -> str:
        return self.member.locale

    @property
    def organization_id(self) -> int:
        return self.member.organization_id

    def actor(self):
        return self_service.member_actor(self.member)


def _page_loads():
    """The `loads` the requested view declared with `member_required(loads=...)`, or None."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return getattr(view, "member_loads", None)


def load_member_session(kind: str, raw_id: str) -> MemberSession | None:
    """The session's member with their organisation; on a page that said what it reads about the member
    (`member_required(loads=...)`), read in the same statement."""
    if kind != "member":
        return None
    member_id, _, fingerprint = raw_id.partition(":")
    if not member_id.isdigit() or not fingerprint:
        return None
    loads = _page_loads()
    if loads is None:
        found = self_service.load_member(db.session, int(member_id), fingerprint)
        return MemberSession(*found) if found else None
    found = loads(db.session, int(member_id))
    if found is None or not self_service.session_is_current(found[0], fingerprint):
        return None
    return MemberSession(*found)


if load_member_session not in member_loaders:
    member_loaders.append(load_member_session)


_LAYOUT_URLS: dict[tuple[str, str, str | None], str] = {}


@bp.app_template_global()
def layout_url(endpoint: str, filename: str | None = None) -> str:
    """`url_for(endpoint)`, or a static file's URL, for a link without arguments: built once per process (and
    script root), as it is the same every time; the member layout has a dozen on every page (werkzeug builds each
    anew: about 10 µs, a twentieth of the wallet page)."""
    key = (request.script_root, endpoint, filename)
    url = _LAYOUT_URLS.get(key)
    if url is None:
        if len(_LAYOUT_URLS) > 1000:  # script roots are the server's; bounded all the same
            _LAYOUT_URLS.clear()
        url = _LAYOUT_URLS[key] = url_for(endpoint, filename=filename) if filename else url_for(endpoint)
    return url


def current_member() -> members.Member | None:
    if current_user.is_authenticated and getattr(current_user, "kind", None) == "member":
        return current_user.member
    return None


def member_required(view=None, *, loads=None):
    """Only for a signed-in member (else to the login page). `loads(session, member_id)` -> (member,
    organisation, what the page reads) or None: the page's own read, made by the session loader in the
    same statement as the member, whenever the member is first loaded in a request for this view
    (`page_read()` gives it to the view; the view must still be able to read it itself when it is None)."""
    if view is None:
        return lambda view: member_required(view, loads=loads)

    @wraps(view)
    def wrapped(*args, **kwargs):
        member = current_member()  # the session loader reads `loads` with the member (see _page_loads)
        if member is None:
            target = url_for("member.login", next=request.full_path.rstrip("?"))
            if htmx:
                response = make_response("", 401)
                response.headers["HX-Redirect"] = target
                return response
            return redirect(target)
        return view(*args, **kwargs)

    wrapped.member_loads = loads
    return wrapped


def page_read():
    """What the page's `member_required(loads=...)` read with the session's member, or None."""
    return getattr(current_user, "page_read", None)


def portal_organization_id() -> int:
    """The organisation whose portal this is: the member's, else PORTAL_ORGANIZATION_ID, else the first one."""
    member = current_member()
    if member is not None:
        return member.organization_id
    if "portal_org_id" not in g:
        configured = current_app.config.get("PORTAL_ORGANIZATION_ID")
        org_id = int(configured) if configured else db.session.scalar(
            select(Organization.id).order_by(Organization.id).limit(1))
        if org_id is None:
            abort(503, "No organisation yet: create one with `flask --app app orgs create`")
        g.portal_org_id = org_id
    return g.portal_org_id


def organization_name(organization_id: int) -> str:
    org = _organization(organization_id)
    return org.name if org else "Portal"


def _organization(organization_id: int) -> Organization | None:
    """The organisation, the signed-in member's without a query."""
    if current_member() is not None and current_user.member.organization_id == organization_id:
        return current_user.organization
    return db.session.get(Organization, organization_id)


def current_locale() -> str:
    locale = get_locale()
    return str(locale) if locale and str(locale) in LANGUAGES else "en"


@bp.context_processor
def member_context():
    member = current_member()
    try:
        org = _organization(portal_organization_id())
    except HTTPException:  # no organisation yet: the page says so itself
        org = None
    translations = get_translations()  # once, not once a label (Flask-Babel's lookup: a few µs each)
    # Markup: shown as they were as lazy strings (our catalogue's text, unescaped)
    return {"member": member, "current_locale": current_locale(), "format_number": format_number,
            "member_nav": [(e, Markup(translations.ugettext(label)))  # nosec B704 (our catalogue's text)
                           for e, label in NAV if e in current_app.view_functions],
            "portal_name": org.name if org else "Portal"}


@bp.errorhandler(CSRFError)
def csrf_refused(error):
    return render_template("member/error.html", title=_("This form has expired"),
                           message=_("Please go back, reload the page and try again.")), 400


@bp.errorhandler(404)
def not_found(error):
    return render_template("member/error.html", title=_("Page not found"),
                           message=_("There is nothing here.")), 404


from . import account_views, wallet_views, coupon_views, referral_views  # noqa: E402,F401
from . import partner_app_views  # noqa: E402,F401  (connected partner apps)
