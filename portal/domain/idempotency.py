"""Idempotency by `systemUniqueKey`, as Stripe does it.

Invariant: at most one operation per (organisation, key). The key row is
inserted in the same transaction as the operation's effects, so a rolled-back
operation leaves no key behind, and a concurrent second request waits on the
unique index and then replays the first one's result.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base, utcnow
from .errors import IdempotencyKeyReused


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    key: Mapped[str] = mapped_column(String(255))
    operation: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass
class Outcome:
    result: dict[str, Any]
    replayed: bool


def fingerprint(operation: str, params: dict[str, Any]) -> str:
    canonical = json.dumps({"operation": operation, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_once(session: Session, organization_id: int, key: str | None, operation: str, params: dict[str, Any],
             perform: Callable[[], dict[str, Any]]) -> Outcome:
    """Run `perform` unless `key` was used before; then return the stored result.

    `perform` returns a small JSON-able dict (ids) from which the caller rebuilds
    its response. Raises IdempotencyKeyReused when the key came with other params.
    """
    if not key:
        return Outcome(perform(), replayed=False)
    print_ = fingerprint(operation, params)
    existing = _find(session, organization_id, key)
    if existing is None:
        record = IdempotencyKey(organization_id=organization_id, key=key, operation=operation, fingerprint=print_)
        try:
            with session.begin_nested():
                session.add(record)
        except IntegrityError:
            # A concurrent request committed the same key first.
            existing = _find(session, organization_id, key)
            if existing is None:
                raise
        else:
            record.result = perform()
            session.flush()
            return Outcome(record.result, replayed=False)
    if existing.fingerprint != print_:
        raise IdempotencyKeyReused("systemUniqueKey was already used with a different request",
                                   field="systemUniqueKey")
    return Outcome(existing.result, replayed=True)


def _find(session: Session, organization_id: int, key: str) -> IdempotencyKey | None:
    return session.scalars(select(IdempotencyKey).where(
        IdempotencyKey.organization_id == organization_id, IdempotencyKey.key == key)).first()
