"""Sign-in, sign-out, the dashboard, and the console's error pages."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from ..auth import StaffSession, begin_session, end_session, staff_required
from ..domain import ledger, staff, throttle
from ..domain.errors import NotFound, PermissionDenied
from ..domain.organizations import default_program, get_organization
from ..extensions import db
from . import bp, navigation, queries
from .forms import LoginForm, LogoutForm
from .rendering import format_number, format_signed, format_when, safe_next

# The same words whether the email is unknown, the password wrong or the user inactive.
LOGIN_FAILED = "Email or password is not correct."
LOGIN_THROTTLED = staff.LOGIN_THROTTLED


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


# --- error pages ---------------------------------------------------------------

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


# --- signing in and out -----------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    if is_staff():
        return redirect(safe_next(request.args.get("next")) or url_for("console.dashboard"))
    form = LoginForm(next=request.args.get("next", ""))
    if not form.validate_on_submit():
        return render_template("console/login.html", form=form), 422 if form.errors else 200
    try:
        # A failure is recorded and committed too: sign_in returns None for it.
        with db.transaction() as session:
            user = staff.sign_in(session, form.email.data, form.password.data,
                                 address=request.remote_addr or "unknown")
    except throttle.TooManyAttempts as error:
        form.form_errors.append(error.message)
        return render_template("console/login.html", form=form), 429
    if user is None:
        form.form_errors.append(LOGIN_FAILED)
        return render_template("console/login.html", form=form)
    begin_session(StaffSession(user))
    return redirect(safe_next(form.next.data) or url_for("console.dashboard"))


@bp.post("/logout")
def logout():
    # CSRF is checked for every POST by CSRFProtect before we get here.
    if is_staff():
        with db.transaction() as session:
            staff.sign_out(session, current_user.user)
    end_session()
    flash("You are signed out.", "success")
    return redirect(url_for("console.login"))


# --- dashboard ------------------------------------------------------------------------

@bp.get("/")
@staff_required()
def dashboard():
    session = db.session
    organization_id = current_user.organization_id
    program = default_program(session, organization_id)
    members_total = queries.member_count(session, organization_id)
    return render_template(
        "console/dashboard.html",
        organization=get_organization(session, organization_id),
        program=program,
        members_total=members_total,
        totals=ledger.totals(session, program.points_account_id),
        tiers=queries.tier_distribution(session, program, members_total),
    )
