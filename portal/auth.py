"""Browser sessions for staff (console) and members (portal) through flask-login.

One login manager serves both: the session's user id is prefixed with its kind
("staff:7", "member:42"), and each blueprint accepts only its own kind.
"""
from __future__ import annotations

from functools import wraps

from flask import abort, redirect, request, url_for
from flask_login import UserMixin, current_user

from .domain import staff
from .extensions import db, login_manager


class StaffSession(UserMixin):
    kind = "staff"

    def __init__(self, user: staff.StaffUser):
        self.user = user

    def get_id(self) -> str:
        return f"staff:{self.user.id}"

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
        if kind == "staff" and raw_id.isdigit():
            user = staff.get_staff_user(db.session, int(raw_id))
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
