"""Browser sessions for staff (console) and members (portal) through flask-login.

One login manager serves both: the session's user id is prefixed with its kind
("staff:7:3", "member:42:<fingerprint>"), and each blueprint accepts only its
own kind. The last part ties the session to the user's session version
(domain/sessions.py), so that logout, a new password, deactivation and
erasure end it on the server. Every login starts a new session (`begin_session`).
"""
from __future__ import annotations

from functools import wraps

from flask import abort, current_app, g, redirect, request, session, url_for
from flask_login import UserMixin, current_user, login_user, logout_user

from .domain import staff
from .extensions import db, login_manager


class StaffSession(UserMixin):
    kind = "staff"

    def __init__(self, user: staff.StaffUser):
        self.user = user

    def get_id(self) -> str:
        return f"staff:{self.user.id}:{self.user.session_version}"

    def has_role(self, role: str) -> bool:
        return self.user.has_role(role)

    def actor(self):
        return self.user.actor()

    @property
    def organization_id(self) -> int:
        return self.user.organization_id


def init_app(app) -> None:
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        kind, _, raw_id = user_id.partition(":")
        if kind == "staff":
            staff_id, _, version = raw_id.partition(":")
            if not (staff_id.isdigit() and version.isdigit()):
                return None
            user = staff.load_session_user(db.session, int(staff_id), int(version))
            return StaffSession(user) if user else None
        for loader in member_loaders:
            found = loader(kind, raw_id)
            if found is not None:
                return found
        return None

    @login_manager.unauthorized_handler
    def unauthorized():
        if request.blueprint == "console":
            return redirect(url_for("console.login", next=request.full_path))
        return redirect(url_for("console.login"))


# The member portal registers its loader here.
member_loaders: list = []


def begin_session(user: UserMixin) -> None:
    """Sign `user` in on a fresh session: nothing from before the login survives, and the CSRF
    token is new, so a token or cookie someone saw before the login is worth nothing after it."""
    _clear_session()
    login_user(user)


def end_session() -> None:
    """Sign out of this browser (the caller ends the user's sessions on the server first)."""
    logout_user()
    _clear_session()


def _clear_session() -> None:
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)  # Flask-WTF's per-request copy


def staff_required(role: str | None = None):
    """Require a logged-in staff user, and the role when given (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated or getattr(current_user, "kind", None) != "staff":
                return login_manager.unauthorized()
            if role and not current_user.has_role(role):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
