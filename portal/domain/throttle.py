"""Failed-attempt throttling kept in the database, so every app server and
worker shares the same count (RELIABILITY: at most 100 failed logins per
account per hour; coupon-code guessing limited the same way).

Invariant: a scope/key pair is refused once it has `limit` failures inside the
window; refusals do not themselves count.
"""
from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Index, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base, utcnow
from .errors import DomainError


class TooManyAttempts(DomainError):
    status = 429
    code = "too_many_attempts"
    title = "Too many attempts"


class FailedAttempt(Base):
    __tablename__ = "failed_attempts"
    __table_args__ = (Index("ix_failed_attempts_scope_key_at", "scope", "key_hash", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(50))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def _hash(key: str) -> str:
    # Emails and addresses are personal data: keep only a digest.
    return hashlib.sha256(key.strip().lower().encode()).hexdigest()


def failures(session: Session, scope: str, key: str, window: dt.timedelta) -> int:
    since = utcnow() - window
    return session.scalar(select(func.count()).select_from(FailedAttempt).where(
        FailedAttempt.scope == scope, FailedAttempt.key_hash == _hash(key), FailedAttempt.created_at >= since)) or 0


def check(session: Session, scope: str, key: str, *, limit: int, window: dt.timedelta,
          message: str = "Too many failed attempts; try again later") -> None:
    """Raise TooManyAttempts when `key` already failed `limit` times within `window`."""
    if failures(session, scope, key, window) >= limit:
        raise TooManyAttempts(message)


def record_failure(session: Session, scope: str, key: str) -> None:
    session.add(FailedAttempt(scope=scope, key_hash=_hash(key)))
    session.flush()


def clear(session: Session, scope: str, key: str) -> None:
    """Forget failures after a success."""
    session.execute(delete(FailedAttempt).where(FailedAttempt.scope == scope, FailedAttempt.key_hash == _hash(key)))


def prune(session: Session, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    return session.execute(delete(FailedAttempt).where(FailedAttempt.created_at < utcnow() - older_than)).rowcount
