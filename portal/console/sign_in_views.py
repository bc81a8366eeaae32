"""Signing staff in and out of the console, with failed sign-ins throttled per account and per address."""
from __future__ import annotations

import datetime as dt

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import login_user, logout_user

from ..auth import StaffSession
from ..domain import staff, throttle
from ..extensions import db
from ..forms import safe_next
from . import bp, is_staff
from .sign_in_forms import LoginForm

LOGIN_WINDOW = dt.timedelta(hours=1)
# RELIABILITY: at most 100 failed logins per account per hour. The per-address
# limit stops one client from spraying many accounts. Both can be lowered in config.
DEFAULT_LIMIT_PER_ACCOUNT = 100
DEFAULT_LIMIT_PER_ADDRESS = 300
ACCOUNT_SCOPE, ADDRESS_SCOPE = "console-login", "console-login-address"
# The same words whether the email is unknown, the password wrong or the user inactive.
LOGIN_FAILED = "Email or password is not correct."
LOGIN_THROTTLED = "Too many failed sign-in attempts. Try again later."


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
        # The failure must count even though this request fails.
        db.record_despite_failure(lambda fresh: _count_failure(fresh, form.email.data, address))
        form.form_errors.append(LOGIN_FAILED)
        return render_template("console/login.html", form=form)
    with db.transaction():  # with the sign-in time authenticate_staff set
        throttle.clear(session, ACCOUNT_SCOPE, form.email.data)
    login_user(StaffSession(user))
    return redirect(safe_next(form.next.data) or url_for("console.dashboard"))


def _count_failure(session, email: str, address: str) -> None:
    throttle.record_failure(session, ACCOUNT_SCOPE, email)
    throttle.record_failure(session, ADDRESS_SCOPE, address)


@bp.post("/logout")
def logout():
    # CSRF is checked for every POST by CSRFProtect before we get here.
    logout_user()
    flash("You are signed out.", "success")
    return redirect(url_for("console.login"))
