"""Browser sessions that end on the server.

A session cookie is signed, not stored: to end the sessions of a staff user or
a member everywhere, their row carries `session_version`, which the cookie
repeats (staff) or folds into its fingerprint (members, self_service.py), and
the user loader compares. Bumping the version ends every session started
before: logout, password change or reset, deactivation and erasure do.
"""
from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session


def end_sessions(session: Session, user) -> None:
    """Every browser session of `user` (a StaffUser or Member) stops working."""
    model = type(user)
    values = {"session_version": model.session_version + 1}
    if hasattr(model, "updated_at"):
        values["updated_at"] = model.updated_at  # signing out is not a change to the person's data
    session.execute(update(model).where(model.id == user.id).values(**values)
                    .execution_options(synchronize_session=False))
    session.refresh(user, ["session_version"])
