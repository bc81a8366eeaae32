"""Mail through the outbox: a mail is sent if and only if the transaction that asked for it committed.

How a mail travels (as webhooks do, domain/webhooks.py):
1. The request renders the message and writes it as a `mail-requested` outbox event in its own
   transaction (`outbox.emit_mail`, called by portal/mail.py: `queue`). A rollback leaves no event,
   so nothing is sent; a commit leaves the event even if the web process dies right after.
2. The worker drains the outbox (`jobs.drain_outbox`); `enqueue` turns the event into a
   MailDelivery in that same transaction and empties the event's payload (the message, which may
   hold a one-time link, lives on only in the delivery).
3. A worker claims one due delivery in a short transaction (`claim_next`: FOR UPDATE SKIP LOCKED;
   on SQLite BEGIN IMMEDIATE serialises claims), which counts the attempt and sets a lease, and
   commits. The SMTP conversation happens after that commit (portal/mail.py: `deliver_due`); the
   answer is written in another short transaction (`record_outcome`).

Invariants:
- One delivery per event (unique outbox_event_id); at most one worker holds a delivery at a time,
  and only the holder of the current claim token moves it on. A worker that dies mid-send leaves
  only its lease; once it expires, another worker sends again (at least once: the Message-ID,
  fixed when the mail was asked for, lets mail software drop the duplicate).
- A delivery ends `sent` when the server accepted it (its body is then cleared), or `failed` after
  MAX_ATTEMPTS attempts, or at once when the server refuses it for good (5xx); a failed delivery
  keeps its last error and is listed by `flask --app app mail-queue`. Between attempts it waits
  30 s doubling up to an hour.
- Mail events have no member: they never show in a member's event feed or data export.
- Erasure (`forget_recipient`, called by self_service.erase_member in its transaction) leaves no
  address and nothing written to it: a delivery keeps only its template, status and times (the
  counts still add up); one not yet sent ends `failed` (there is nobody to send it to); a mail
  event not yet drained keeps only its template and becomes no delivery.
- Records of sent mail live MAIL_RECORDS_DAYS after they were sent, then the worker deletes them
  (`prune_sent`).
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

from sqlalchemy import ForeignKey, Index, String, Text, delete, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import jobs
from .base import Base, IndexedOwnedRow, utcnow
from .outbox import MAIL_REQUESTED, OutboxEvent

PENDING, SENT, FAILED = "pending", "sent", "failed"
MAX_ATTEMPTS = 8
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_RETRY = dt.timedelta(hours=1)
LEASE = dt.timedelta(minutes=2)
ERROR_CHARS = 500
RECIPIENT_ERASED = "recipient erased"


class MailDelivery(IndexedOwnedRow, Base):
    """One mail, from the outbox event that asked for it until the server accepted it or it failed."""

    __tablename__ = "mail_deliveries"
    __table_args__ = (Index("ix_mail_deliveries_due", "status", "next_attempt_at"),)

    outbox_event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id"), unique=True)
    template: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    message_id: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    claim_token: Mapped[str | None] = mapped_column(String(32), default=None)
    last_error: Mapped[str] = mapped_column(String(ERROR_CHARS), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)


def enqueue(session: Session, event: OutboxEvent) -> None:
    """Outbox consumer: a `mail-requested` event becomes a delivery (the event keeps only the template)."""
    if event.event_type != MAIL_REQUESTED:
        return
    p = event.payload
    if "to" not in p:  # asked for, then its recipient was erased before the worker came by
        return
    session.add(MailDelivery(organization_id=event.organization_id, outbox_event_id=event.id,
                             template=p["template"], recipient=p["to"], subject=p["subject"],
                             message_id=p["messageId"], text=p["text"], html=p["html"],
                             next_attempt_at=event.created_at))
    event.payload = {"template": p["template"]}


jobs.outbox_consumers.append(enqueue)


def retry_delay(attempt: int) -> dt.timedelta:
    """Wait after failed attempt n: 30 s, 1 min, 2 min, ... up to an hour."""
    return min(FIRST_RETRY * 2 ** min(max(attempt, 1) - 1, 20), LONGEST_RETRY)


@dataclass(frozen=True)
class Claim:
    """What a worker needs to send one mail once, and the token that proves it still holds it."""

    delivery_id: int
    number: int
    token: str = field(repr=False)
    recipient: str
    subject: str
    message_id: str
    text: str = field(repr=False)
    html: str = field(repr=False)


def claim_next(session: Session, *, now: dt.datetime, lease: dt.timedelta = LEASE) -> Claim | None:
    """Claim the next due delivery for one attempt, or None. The caller commits before sending."""
    d = MailDelivery
    delivery = session.scalars(
        select(d).where(d.status == PENDING, d.next_attempt_at <= now,
                        or_(d.claimed_until.is_(None), d.claimed_until <= now))
        .order_by(d.next_attempt_at, d.id).limit(1).with_for_update(skip_locked=True)).first()
    if delivery is None:
        return None
    delivery.attempt_count += 1
    delivery.claimed_until, delivery.claim_token = now + lease, secrets.token_hex(16)
    session.flush()
    return Claim(delivery_id=delivery.id, number=delivery.attempt_count, token=delivery.claim_token,
                 recipient=delivery.recipient, subject=delivery.subject, message_id=delivery.message_id,
                 text=delivery.text, html=delivery.html)


def record_outcome(session: Session, claim: Claim, *, error: str | None, permanent: bool = False,
                   now: dt.datetime) -> str:
    """Move the delivery on after an attempt: `sent` (error None), a retry later, or `failed`.
    Returns its status, or `lost` when the claim had expired and another worker took it over."""
    delivery = session.scalars(select(MailDelivery).where(MailDelivery.id == claim.delivery_id,
                                                         MailDelivery.claim_token == claim.token)
                               .with_for_update()).first()
    if delivery is None:
        return "lost"
    delivery.claimed_until = delivery.claim_token = None
    if error is None:
        delivery.status, delivery.finished_at, delivery.last_error = SENT, now, ""
        delivery.text = delivery.html = ""  # a one-time link has no business staying in the database
    else:
        delivery.last_error = error[:ERROR_CHARS]
        if permanent or claim.number >= MAX_ATTEMPTS:
            delivery.status, delivery.finished_at = FAILED, now
        else:
            delivery.next_attempt_at = now + retry_delay(claim.number)
    session.flush()
    return delivery.status


def waiting(session: Session, now: dt.datetime | None = None) -> bool:
    """Whether a mail waits: a mail event not drained yet, or a delivery due now."""
    now = now or utcnow()
    d = MailDelivery
    return session.scalar(select(OutboxEvent.id).where(OutboxEvent.processed_at.is_(None),
                                                       OutboxEvent.event_type == MAIL_REQUESTED).limit(1)) is not None \
        or session.scalar(select(d.id).where(d.status == PENDING, d.next_attempt_at <= now,
                                             or_(d.claimed_until.is_(None), d.claimed_until <= now)).limit(1)) is not None


def forget_recipient(session: Session, organization_id: int, email: str) -> int:
    """Erasure: blank every mail record of the organisation to `email` (case-insensitive) and the
    message of mail events not drained yet; deliveries not sent yet end `failed`. Returns the
    deliveries blanked."""
    email = email.strip().lower()
    # The events first: a worker draining one right now holds it locked, and the delivery it makes
    # is committed (and so found below) by the time this statement gets the row.
    events = session.scalars(select(OutboxEvent).where(OutboxEvent.organization_id == organization_id,
                                                       OutboxEvent.event_type == MAIL_REQUESTED,
                                                       OutboxEvent.processed_at.is_(None))
                             .with_for_update())
    for event in events:
        if str((event.payload or {}).get("to", "")).strip().lower() == email:
            event.payload = {"template": event.payload.get("template", "")}
    d = MailDelivery
    mine = (d.organization_id == organization_id, func.lower(d.recipient) == email)
    now = utcnow()
    session.execute(update(d).where(*mine, d.status == PENDING)
                    .values(status=FAILED, finished_at=now, claimed_until=None, claim_token=None))
    blanked = session.execute(update(d).where(*mine).values(
        recipient="", subject="", text="", html="", last_error=RECIPIENT_ERASED)).rowcount
    session.flush()
    return blanked


def prune_sent(session: Session, *, older_than: dt.timedelta, now: dt.datetime | None = None,
               batch: int = 5000) -> int:
    """Delete up to `batch` records of mail sent more than `older_than` ago; returns how many. Failed
    ones stay for `flask --app app mail-queue` (their message never arrived)."""
    d = MailDelivery
    cutoff = (now or utcnow()) - older_than
    # A mail is sent at or after its next_attempt_at: the redundant bound lets the due index find the rows.
    old = select(d.id).where(d.status == SENT, d.next_attempt_at < cutoff, d.finished_at < cutoff).limit(batch)
    ids = list(session.scalars(old))
    if ids:
        session.execute(delete(d).where(d.id.in_(ids)))
    return len(ids)


def counts(session: Session) -> dict[str, int]:
    """Deliveries per status."""
    found = dict(session.execute(select(MailDelivery.status, func.count()).group_by(MailDelivery.status)).all())
    return {status: found.get(status, 0) for status in (PENDING, SENT, FAILED)}


def failed(session: Session, limit: int = 50) -> list[MailDelivery]:
    """The latest failed deliveries, newest first."""
    return list(session.scalars(select(MailDelivery).where(MailDelivery.status == FAILED)
                                .order_by(MailDelivery.id.desc()).limit(limit)))
