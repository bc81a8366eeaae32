"""Signing staff in and out of the console, with failed sign-ins throttled per account and per address."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth import StaffSession, begin_session, end_session
from ..domain import staff, throttle
from ..extensions import db
from ..forms import safe_next
from . import bp, is_staff
from .sign_in_forms import LoginForm

# The same words whether the email is unknown, the password wrong or the user inactive.
LOGIN_FAILED = "Email or password is not correct."
LOGIN_THROTTLED = staff.LOGIN_THROTTLED


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
