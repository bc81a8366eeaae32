"""Idempotency by `systemUniqueKey`, as Stripe does it.

Invariant: at most one operation per (organisation, key). The key row is
inserted in the same transaction as the operation's effects, so a rolled-back
operation leaves no key behind, and a concurrent second request waits on the
unique index and then replays the first one's result.

The key is claimed with one `INSERT ... ON CONFLICT DO NOTHING` before the
operation runs (no read before, no savepoint): a row back means the operation
is ours to run; none means the key was used, and its row is read. An operation
whose result can be found again from the key itself (a ledger movement stores
the key on its transaction) passes `result` up front and is not written twice.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import String, UniqueConstraint, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base, OwnedRow, utcnow
from .errors import IdempotencyKeyReused


class IdempotencyKey(OwnedRow, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    key: Mapped[str] = mapped_column(String(255))
    operation: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass
class Outcome:
    result: dict[str, Any]
    replayed: bool
    claimed_at: dt.datetime | None = None  # of a replayed key: when the first request claimed it


def fingerprint(operation: str, params: dict[str, Any]) -> str:
    canonical = json.dumps({"operation": operation, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_once(session: Session, organization_id: int, key: str | None, operation: str, params: dict[str, Any],
             perform: Callable[[], dict[str, Any]], *, result: dict[str, Any] | None = None) -> Outcome:
    """Run `perform` unless `key` was used before; then return the stored result.

    `perform` returns a small JSON-able dict (ids) from which the caller rebuilds
    its response. With `result` given, that is what a replay gets back (and what
    `perform` returns is not stored). Raises IdempotencyKeyReused when the key
    came with other params.
    """
    if not key:
        return Outcome(perform(), replayed=False)
    print_ = fingerprint(operation, params)
    claimed = claim(session, organization_id, [(key, operation, print_, result or {})])
    if claimed:
        performed = perform()
        if result is None:
            session.execute(_STORING, {"key_id": claimed[key], "stored": performed})
        return Outcome(performed, replayed=False)
    # Used before, or by a concurrent request that has committed since (the insert waited for it).
    existing = _find(session, organization_id, key)
    if existing.fingerprint != print_:
        raise IdempotencyKeyReused("systemUniqueKey was already used with a different request",
                                   field="systemUniqueKey")
    return Outcome(existing.result, replayed=True, claimed_at=existing.created_at)


def claim(session: Session, organization_id: int, keys: list[tuple[str, str, str, dict[str, Any]]]) -> dict[str, int]:
    """Insert the (key, operation, fingerprint, result) rows not taken yet, in one statement.

    Returns {key: row id} of those inserted; a key already taken (or taken by a concurrent request,
    which this waits for) is left out."""
    if not keys:
        return {}
    now = utcnow()
    # Built once per database, the rows as parameters (one row: one execute; many: SQLAlchemy's insertmanyvalues,
    # one statement): the same compiled statement every time, where a VALUES list would be compiled per call.
    rows = [{"organization_id": organization_id, "key": key, "operation": operation, "fingerprint": print_,
             "result": result, "created_at": now} for key, operation, print_, result in keys]
    return dict(session.execute(_claiming(session), rows[0] if len(rows) == 1 else rows).all())


_CLAIMING: dict[str, Any] = {}
# The first answer kept with its key: a Core statement built once (no ORM update to build and compile per call).
_STORING = (update(IdempotencyKey.__table__).where(IdempotencyKey.__table__.c.id == bindparam("key_id"))
            .values(result=bindparam("stored", type_=IdempotencyKey.__table__.c.result.type)))


def _claiming(session: Session):
    name = session.get_bind().dialect.name
    if name not in _CLAIMING:
        table = IdempotencyKey.__table__
        _CLAIMING[name] = (postgresql if name == "postgresql" else sqlite).insert(table).on_conflict_do_nothing() \
            .returning(table.c.key, table.c.id)
    return _CLAIMING[name]


def forget(session: Session, row_ids: list[int]) -> None:
    """Give keys back (a batch item claimed its key and then failed): a retry runs it again."""
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(row_ids))
                    .execution_options(synchronize_session=False))


def find_all(session: Session, organization_id: int, keys: list[str]) -> dict[str, IdempotencyKey]:
    """The stored rows of these keys, by key."""
    if not keys:
        return {}
    return {row.key: row for row in session.scalars(select(IdempotencyKey).where(
        IdempotencyKey.organization_id == organization_id, IdempotencyKey.key.in_(keys)))}


def _find(session: Session, organization_id: int, key: str) -> IdempotencyKey | None:
    return session.scalars(select(IdempotencyKey).where(
        IdempotencyKey.organization_id == organization_id, IdempotencyKey.key == key)).first()
