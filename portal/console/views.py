"""Sign-in, sign-out, the dashboard, and the console's error pages."""
from __future__ import annotations

import datetime as dt

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError

from ..auth import StaffSession, staff_required
from ..domain import ledger, reports, staff, throttle
from ..domain.errors import NotFound, PermissionDenied
from ..domain.organizations import default_program, get_organization
from ..extensions import db
from . import bp, navigation, queries
from .forms import LoginForm, LogoutForm
from .rendering import format_number, format_signed, format_when, safe_next

LOGIN_WINDOW = dt.timedelta(hours=1)
# RELIABILITY: at most 100 failed logins per account per hour. The per-address
# limit stops one client from spraying many accounts. Both can be lowered in config.
DEFAULT_LIMIT_PER_ACCOUNT = 100
DEFAULT_LIMIT_PER_ADDRESS = 300
ACCOUNT_SCOPE, ADDRESS_SCOPE = "console-login", "console-login-address"
# The same words whether the email is unknown, the password wrong or the user inactive.
LOGIN_FAILED = "Email or password is not correct."
LOGIN_THROTTLED = "Too many failed sign-in attempts. Try again later."


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

def _limits() -> tuple[int, int]:
    config = current_app.config
    return (int(config.get("CONSOLE_LOGIN_LIMIT_PER_ACCOUNT", DEFAULT_LIMIT_PER_ACCOUNT)),
            int(config.get("CONSOLE_LOGIN_LIMIT_PER_ADDRESS", DEFAULT_LIMIT_PER_ADDRESS)))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if is_staff():
        return redirect(safe_next(request.args.get("next")) or url_for("console.dashboard"))
    form = LoginForm(next=request.args.get("next", ""))
    if not form.validate_on_submit():
        return render_template("console/login.html", form=form), 422 if form.errors else 200
    session = db.session
    address = request.remote_addr or "unknown"
    per_account, per_address = _limits()
    try:
        throttle.check(session, ACCOUNT_SCOPE, form.email.data, limit=per_account, window=LOGIN_WINDOW,
                       message=LOGIN_THROTTLED)
        throttle.check(session, ADDRESS_SCOPE, address, limit=per_address, window=LOGIN_WINDOW,
                       message=LOGIN_THROTTLED)
    except throttle.TooManyAttempts as error:
        form.form_errors.append(error.message)
        return render_template("console/login.html", form=form), 429
    user = staff.authenticate_staff(session, form.email.data, form.password.data)
    if user is None:
        throttle.record_failure(session, ACCOUNT_SCOPE, form.email.data)
        throttle.record_failure(session, ADDRESS_SCOPE, address)
        # The failure must count even though this request fails.
        session.commit()
        form.form_errors.append(LOGIN_FAILED)
        return render_template("console/login.html", form=form)
    throttle.clear(session, ACCOUNT_SCOPE, form.email.data)
    session.commit()
    login_user(StaffSession(user))
    return redirect(safe_next(form.next.data) or url_for("console.dashboard"))


@bp.post("/logout")
def logout():
    # CSRF is checked for every POST by CSRFProtect before we get here.
    logout_user()
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
        week=reports.week_comparison(session, organization_id) if current_user.has_role("reports:read") else None,
    )
