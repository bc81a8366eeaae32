"""Partner apps in the console: list with connected members, create, edit, disable or enable,
rotate the client secret. A new secret is shown once, on the answer to the POST that made it
(never in a redirect, a flash message or a log)."""
from __future__ import annotations

from flask import flash, make_response, redirect, render_template
from flask_login import current_user

from ..auth import staff_required
from ..domain import partners
from ..domain.errors import DomainError
from ..domain.partners import PartnerApp
from ..extensions import db
from . import bp, navigation
from ..forms import form_status, submit
from ..fragments import render_page_or_fragment
from .partner_app_forms import PARTNER_APP_FIELDS, NewPartnerAppForm, PartnerAppForm
from .rendering import newest_first, page_of
from .resources import Resource

navigation.register("Partner apps", "console.partner_app_list", "partnerships:read", "console.partner_app_")

APPS_PER_PAGE = 20
PARTNER_APPS = Resource("partner_apps", "partner_app", partners.get_app, fields=PARTNER_APP_FIELDS, id_arg="app_id",
                        known_as="app", label="Partner apps", write_role="partnerships:write")


@bp.get("/partner-apps")
@staff_required("partnerships:read")
def partner_app_list():
    result = page_of(partners.apps_query(current_user.organization_id), APPS_PER_PAGE, *newest_first(PartnerApp))
    connected = partners.connected_member_counts(db.session, [app.id for app in result.items])
    return render_page_or_fragment("console/partner_apps/list.html", "console/partner_apps/_rows.html",
                                   result=result, connected=connected)


@bp.route("/partner-apps/new", methods=["GET", "POST"])
@staff_required("partnerships:write")
def partner_app_new():
    form = NewPartnerAppForm()
    if form.validate_on_submit():
        done, created = submit(form, lambda: partners.create_app(
            db.session, current_user.organization_id, actor=current_user.actor(), client_type=form.client_type.data,
            **form.fields()), PARTNER_APP_FIELDS)
        if done:
            app, secret = created
            return _detail_page(app, secret=secret, status=201)
    return render_template("console/partner_apps/new.html", form=form, **PARTNER_APPS.layout(), app=None), form_status()


@bp.get("/partner-apps/<int:app_id>")
@staff_required("partnerships:read")
def partner_app_detail(app_id: int):
    """The app's settings and how many members have connected it; never its client secret, which only the
    answer to the POST that made or rotated it shows."""
    return _detail_page(PARTNER_APPS.find(app_id))


@bp.route("/partner-apps/<int:app_id>/edit", methods=["GET", "POST"])
@staff_required("partnerships:write")
def partner_app_edit(app_id: int):
    app, form = PARTNER_APPS.find(app_id), PartnerAppForm()
    return PARTNER_APPS.edit_page(form, app, partners.update_app)


@bp.post("/partner-apps/<int:app_id>/active")
@staff_required("partnerships:write")
def partner_app_active(app_id: int):
    return PARTNER_APPS.switch(app_id, partners.update_app, told=lambda app: (
        f"{app.name} is enabled." if app.active else
        f"{app.name} is disabled: its tokens are revoked and members cannot sign in with it."))


@bp.post("/partner-apps/<int:app_id>/rotate-secret")
@staff_required("partnerships:write")
def partner_app_rotate(app_id: int):
    app = PARTNER_APPS.find(app_id)  # the CSRF token is checked for every POST by CSRFProtect
    try:
        with db.transaction() as session:
            secret = partners.rotate_secret(session, app, actor=current_user.actor())
    except DomainError as error:
        flash(error.message, "error")
        return redirect(PARTNER_APPS.url(app))
    return _detail_page(app, secret=secret)


def _detail_page(app: PartnerApp, *, secret: str | None = None, status: int = 200):
    connected = partners.connected_member_counts(db.session, [app.id]).get(app.id, 0)
    response = make_response(render_template("console/partner_apps/detail.html", **PARTNER_APPS.layout(app), app=app,
                                             secret=secret, connected=connected), status)
    if secret:
        response.headers["Cache-Control"] = "no-store"
    return response
