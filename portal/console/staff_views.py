"""Staff users (create, deactivate and reactivate, change roles, mail a password-reset link),
API keys and the audit log of the signed-in user's organisation; and the reset link's page."""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user

from .. import mail
from ..auth import staff_required
from ..domain import idempotency, staff
from ..domain.audit import AuditEntry
from ..domain.organizations import Organization
from ..domain.staff import ROLES, ApiKey, StaffUser
from ..extensions import db
from ..forms import submit
from ..fragments import render_page_or_fragment
from ..urls import absolute_url
from . import bp, queries
from .rendering import page_of
from .resources import list_with_create
from .staff_forms import ApiKeyForm, PasswordResetForm, StaffRolesForm, StaffUserForm

PER_PAGE = 50  # staff users, API keys and audit entries


def _staff_page(form: StaffUserForm, status: int = 200):
    result = page_of(queries.staff_users(current_user.organization_id), PER_PAGE, StaffUser.email.asc())
    return render_template("console/staff/list.html", result=result, form=form, roles=ROLES,
                           can_manage=_can_manage), status


@list_with_create("/staff", "staff", StaffUserForm, _staff_page, read="users:read", write="users:write",
                  told=lambda user: f"Staff user {user.email} created.")
def staff_create(form: StaffUserForm):
    # create_staff_user refuses roles the signer lacks (PermissionDenied on the roles field) before anything else.
    return staff.create_staff_user(db.session, current_user.organization_id, email=form.email.data,
                                   password=form.password.data, roles=form.roles.data, actor=current_user.actor(),
                                   name=(form.name.data or "").strip())


@bp.post("/staff/<int:user_id>/deactivate")
@staff_required("users:write")
def staff_deactivate(user_id: int):
    return _change_staff_user(staff.deactivate_staff_user, user_id, "Staff user {email} deactivated; their "
                              "sessions ended and the API keys they created are revoked.")


@bp.post("/staff/<int:user_id>/reactivate")
@staff_required("users:write")
def staff_reactivate(user_id: int):
    return _change_staff_user(staff.reactivate_staff_user, user_id,
                              "Staff user {email} reactivated: they can sign in again with their password.")


def _change_staff_user(change, user_id: int, told: str):
    """`change(session, organization_id, user_id, actor=...)` (deactivate, reactivate) in one transaction,
    then back to the list flashing `told` with the user's {email}. PermissionDenied (a user with roles the
    signer lacks, or oneself) renders the 403 page."""
    with db.transaction() as session:
        user = change(session, current_user.organization_id, user_id, actor=current_user.actor())
    flash(told.format(email=user.email), "success")
    return redirect(url_for("console.staff_list"))


@bp.route("/staff/<int:user_id>/edit", methods=["GET", "POST"])
@staff_required("users:write")
def staff_edit(user_id: int):
    user = staff.get_staff_user_in(db.session, current_user.organization_id, user_id)
    if not _can_manage(user.roles) or user.id == current_user.user.id:
        abort(403)
    form = StaffRolesForm(data={"roles": user.roles})
    if form.validate_on_submit():
        done, _ = submit(form, lambda: staff.set_staff_roles(db.session, current_user.organization_id, user.id,
                                                             form.roles.data, actor=current_user.actor()))
        if done:
            flash(f"Roles of {user.email} saved.", "success")
            return redirect(url_for("console.staff_list"))
    return render_template("console/staff/edit.html", user=user, form=form), 422 if form.errors else 200


@bp.post("/staff/<int:user_id>/reset-password")
@staff_required("users:write")
def staff_reset_password(user_id: int):
    # PermissionDenied renders the 403 page; StaffUserInactive (a Conflict) is shown as a message.
    try:
        with db.transaction() as session:
            user, token = staff.issue_password_reset(session, current_user.organization_id, user_id,
                                                     actor=current_user.actor())
            org_name = session.get(Organization, user.organization_id).name
            mail.queue(session, user.organization_id, user.email, "Choose a new console password",
                       "staff_password_reset", user=user, org_name=org_name,
                       link=absolute_url("console.password_reset", token=token),
                       hours=int(staff.RESET_LINK_LIFETIME.total_seconds() // 3600))
    except staff.StaffUserInactive as refused:
        flash(refused.message, "error")
        return redirect(url_for("console.staff_list"))
    flash(f"A password-reset link was mailed to {user.email}.", "success")
    return redirect(url_for("console.staff_list"))


@bp.route("/password-reset/<token>", methods=["GET", "POST"])
def password_reset(token: str):
    """The page a reset link opens: no sign-in needed, the link is the proof."""
    if staff.reset_link_user(db.session, token) is None:
        return render_template("console/password_reset.html", form=None), 404
    form = PasswordResetForm()
    if form.validate_on_submit():
        done, _ = submit(form, lambda: staff.reset_password_with_link(db.session, token, form.password.data),
                         {"token": None})
        if done:
            flash("Your password is set. Sign in with it.", "success")
            return redirect(url_for("console.login"))
    response = make_response(render_template("console/password_reset.html", form=form), 422 if form.errors else 200)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _can_manage(roles: list[str]) -> bool:
    """Whether the signed-in user may change or revoke a user or key with these roles."""
    return current_user.has_role("users:write") and all(current_user.has_role(r) for r in roles)


@bp.get("/api-keys")
@staff_required("users:read")
def api_key_list():
    return _api_key_page(ApiKeyForm(formdata=None))


@bp.post("/api-keys")
@staff_required("users:write")
def api_key_create():
    session = db.session
    form = ApiKeyForm()
    if form.validate_on_submit():
        actor, created = current_user.actor(), []

        def create() -> dict:
            key, secret = staff.create_api_key(session, current_user.organization_id, name=form.name.data.strip(),
                                               roles=form.roles.data, actor=actor)
            created.append((key, secret))
            return {"apiKeyId": key.id}

        def create_once():
            staff.require_grantable(actor, form.roles.data)
            return idempotency.run_once(session, current_user.organization_id, f"console-api-key-{form.key.data}",
                                        "console.api_key.create", {"name": form.name.data, "roles": form.roles.data},
                                        create)

        done, outcome = submit(form, create_once)
        if done:
            if outcome.replayed:
                flash("This form was already sent: the key exists, and its secret was shown only once.", "info")
                return redirect(url_for("console.api_key_list"))
            # The secret is in this response only: rendered, never redirected through the session cookie.
            response = _api_key_page(ApiKeyForm(formdata=None), created=created[0])
            response.headers["Cache-Control"] = "no-store"
            return response
    return _api_key_page(form, status=422)


@bp.post("/api-keys/<int:key_id>/revoke")
@staff_required("users:write")
def api_key_revoke(key_id: int):
    # PermissionDenied (a key with roles the signer lacks) renders the 403 page.
    with db.transaction() as session:
        key = staff.revoke_api_key(session, current_user.organization_id, key_id, actor=current_user.actor())
    flash(f"API key {key.name} ({key.prefix}) revoked.", "success")
    return redirect(url_for("console.api_key_list"))


def _api_key_page(form: ApiKeyForm, status: int = 200, created: tuple[ApiKey, str] | None = None):
    result = page_of(queries.api_keys(current_user.organization_id), PER_PAGE, ApiKey.id.desc())
    html = render_template("console/api_keys/list.html", result=result, form=form, roles=ROLES, created=created,
                           can_manage=_can_manage)
    return make_response(html, status)


@bp.get("/audit")
@staff_required("users:read")
def audit_list():
    result = page_of(queries.audit_entries(current_user.organization_id), PER_PAGE, AuditEntry.id.desc())
    return render_page_or_fragment("console/audit/list.html", "console/audit/_rows.html", result=result)
