"""One-time links mailed to a person: a member's signup or password-reset link (MemberToken), a staff
password reset (StaffToken). The same mechanism for both:

- the token is random, shown once (in the mail) and stored only as its digest (`passwords.digest`);
- a link is good until its `expires_at` and only while `used_at` is empty;
- `open_link` only reads: opening a link changes nothing;
- `use_link` marks it used with a conditional update, so of any number of concurrent uses one wins;
- `void_links` ends the open links of a person (older reset links once a new one is sent or a password set).

A link row is any model with the columns `id`, `token_hash`, `created_at`, `expires_at` and `used_at`.
"""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .base import utcnow
from .passwords import digest

Link = TypeVar("Link")
MAX_TOKEN_LENGTH = 200  # longer input is no token of ours; not worth a query


def new_link(model: type[Link], lifetime: dt.timedelta, **columns: Any) -> tuple[Link, str]:
    """A link row (not yet added to the session) and its token, which only the mail carries."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    return model(token_hash=digest(token), created_at=now, expires_at=now + lifetime, **columns), token


def open_link(session: Session, model: type[Link], token: str, *criteria: Any) -> Link | None:
    """The unused, unexpired link with this token (and matching `criteria`), else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return session.scalars(select(model).where(model.token_hash == digest(token), model.used_at.is_(None),
                                               model.expires_at > utcnow(), *criteria)).first()


def use_link(session: Session, model: type[Link], link: Link) -> bool:
    """Mark the link used; True only for the one use that wins among concurrent ones."""
    now = utcnow()
    return session.execute(update(model).where(model.id == link.id, model.used_at.is_(None), model.expires_at > now)
                           .values(used_at=now).execution_options(synchronize_session=False)).rowcount == 1


def void_links(session: Session, model: type[Link], *criteria: Any) -> None:
    """End every open link matching `criteria` (one person's, one purpose's)."""
    session.execute(update(model).where(model.used_at.is_(None), *criteria)
                    .values(used_at=utcnow()).execution_options(synchronize_session=False))
