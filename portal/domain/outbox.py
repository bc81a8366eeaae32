"""Loyalty events, written to an outbox in the same transaction as their cause.

Invariant: an event row exists if and only if the change that caused it was
committed; workers (and webhooks) read from here, so none is lost if a process dies.
Mail goes the same way (`emit_mail`; domain/mail_deliveries.py sends it with retries).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import row_buffer
from .base import Base, OwnedRow, utcnow


class OutboxEvent(OwnedRow, Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_unprocessed", "processed_at", "id"),
                      Index("ix_outbox_events_member", "member_id", "id"),
                      Index("ix_outbox_events_org_created", "organization_id", "created_at"))  # reports

    event_type: Mapped[str] = mapped_column(String(100))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


_INSERT = insert(OutboxEvent.__table__)


def event_row(organization_id: int, event_type: str, *, member_id: int | None = None, **payload: Any) -> dict:
    """What `emit` adds, as a row for a caller that inserts many at once (`ledger.post_all`)."""
    return {"organization_id": organization_id, "event_type": event_type, "member_id": member_id,
            "payload": payload, "created_at": utcnow(), "processed_at": None}


def insert_events(session: Session, rows: list[dict]) -> None:
    """Insert `event_row`s in one Core statement (no ORM object, no flush), or with the rest of a
    `row_buffer.together` block's events: the ledger's hot path."""
    row_buffer.add(session, OutboxEvent, _INSERT, rows)


def emit(session: Session, organization_id: int, event_type: str, *, member_id: int | None = None,
         **payload: Any) -> OutboxEvent:
    """Record that something happened; the seed's event names (`member-created`, `member-tier-set`)."""
    event = OutboxEvent(organization_id=organization_id, event_type=event_type, member_id=member_id,
                        payload=payload)
    session.add(event)
    return event


MAIL_REQUESTED = "mail-requested"


def emit_mail(session: Session, organization_id: int, *, template: str, to: str, subject: str, text: str, html: str,
              message_id: str) -> OutboxEvent:
    """Ask for a rendered mail to be sent once this transaction commits (never, if it rolls back).
    No member_id: the message may hold a one-time link, and a member's events are shown to them."""
    return emit(session, organization_id, MAIL_REQUESTED, template=template, to=to, subject=subject, text=text,
                html=html, messageId=message_id)
