"""Audit log: every write by staff or the API, who did it, to what, when.

Invariant: rows are only ever inserted; `details` never holds personal data
(names, emails, phones), only ids and field names.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import row_buffer
from .actors import Actor
from .base import Base, Row, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_created", "organization_id", "created_at"),
                      Index("ix_audit_log_target", "target_type", "target_id"))  # erasure

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), default=None)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(default=None)
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str] = mapped_column(String(50), default="")
    target_id: Mapped[str] = mapped_column(String(100), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


_INSERT = insert(AuditEntry.__table__)  # Core, built once: no ORM object or flush per row


def record(session: Session, actor: Actor, action: str, target: Any = None, *, organization_id: int | None = None,
           **details: Any) -> AuditEntry:
    """Append one audit entry; `action` is dotted (`member.created`, `ledger.minted`)."""
    target_type = _type_of(target) if target is not None else ""
    target_id = str(getattr(target, "id", "") or "") if target is not None else ""
    entry = AuditEntry(organization_id=organization_id or actor.organization_id or getattr(target, "organization_id", None),
                       actor_kind=actor.kind, actor_id=actor.id, actor_label=actor.label, action=action,
                       target_type=target_type, target_id=target_id, details=details)
    session.add(entry)
    return entry


def record_added(session: Session, actor: Actor, action: str, row: Row, **details: Any) -> Row:
    """Add the new `row`, flush it (so that it has its id) and `record` `action` on it; returns the row."""
    session.add(row)
    session.flush()
    record(session, actor, action, row, **details)
    return row


def record_changed(session: Session, actor: Actor, action: str, row: Row, **details: Any) -> Row:
    """Stamp `row.updated_at`, flush the change and `record` `action` on it; returns the row."""
    row.updated_at = utcnow()
    session.flush()
    record(session, actor, action, row, **details)
    return row


def record_many(session: Session, actor: Actor, actions: list[tuple[str, Any]], **details_of: Any) -> None:
    """Append an entry per (action, target), as `record` would, in one statement (no ORM objects; with the rest of
    a `row_buffer.together` block's); `details_of` maps a detail's name to a function of the target
    (`amount=lambda tx: tx.amount`)."""
    if not actions:
        return
    now = utcnow()
    row_buffer.add(session, AuditEntry, _INSERT, [
        _row(actor, action, target, {name: of(target) for name, of in details_of.items()}, now)
        for action, target in actions])


def record_now(session: Session, actor: Actor, action: str, target: Any, **details: Any) -> None:
    """`record` as one Core statement sent at once (no ORM object, no flush), or with the rest of a
    `row_buffer.together` block's audit rows: the hot write paths' (an order)."""
    row_buffer.add(session, AuditEntry, _INSERT, [_row(actor, action, target, details, utcnow())])


def _row(actor: Actor, action: str, target: Any, details: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return {"organization_id": actor.organization_id or getattr(target, "organization_id", None),
            "actor_kind": actor.kind, "actor_id": actor.id, "actor_label": actor.label, "action": action,
            "target_type": _type_of(target), "target_id": str(getattr(target, "id", "") or ""),
            "details": details, "created_at": now}


def _type_of(target: Any) -> str:
    """The target's kind as the log names it: its class's name, or the row's it stands for (`ledger.Posted`)."""
    return getattr(target, "audit_target_type", None) or type(target).__name__.lower()
