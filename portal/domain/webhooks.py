"""Webhooks: partners subscribe to loyalty events; the worker delivers them, signed, with retries.

How an event travels (Stripe-style, a transactional outbox):
1. The use case writes an outbox event in its own transaction (`outbox.emit`).
2. The worker drains the outbox (`jobs.drain_outbox`); `enqueue_deliveries` writes one
   WebhookDelivery per subscribed receiver in that same transaction, with the event's id and
   body fixed once and for all.
3. A worker claims one due delivery in a short transaction (`claim_next`: FOR UPDATE SKIP
   LOCKED; on SQLite BEGIN IMMEDIATE serialises claims), which logs the attempt and sets a
   lease (`claimed_until`), and commits. The HTTP call happens after that commit, outside any
   transaction (portal/webhook_sender.py). The answer is written in another short
   transaction (`record_outcome`).
4. A worker that dies mid-call leaves only its lease; once it expires, another worker claims
   the delivery again. Delivery is at least once; receivers deduplicate on the event id.

Invariants:
- A delivery's event id and body never change: every retry sends the same bytes, signed anew
  (HMAC-SHA256 over `id.timestamp.body`, as Standard Webhooks) with the current time.
- At most one worker holds a delivery at a time: a claim takes only unclaimed rows or rows
  whose lease has expired, and only the holder of the current claim token moves the delivery
  on; a late answer from an expired claim is logged as an attempt and changes nothing else.
- Per subscription and member, events go out in the order they happened: a delivery waits
  while an earlier event of the same member is undrained or its delivery still pending.
- A delivery ends `success` on a 2xx answer, or `failed` when a failed attempt leaves no
  retry inside its window (3 days from queueing, retries with exponential backoff and
  jitter). Every attempt is logged with its status, latency and a response excerpt.
- Receivers are http(s) URLs on public addresses; loopback and private networks only when
  the installation allows them (checked when a URL is saved and on every connection, since
  DNS can change); link-local (cloud metadata), unspecified and multicast addresses never.
- A deleted subscription is hidden and receives nothing more; its delivery log stays.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, or_, select, update
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from . import audit, jobs
from .actors import Actor
from .base import Base, IndexedOwnedRow, OwnedRow, get_owned, isoformat, utcnow
from .checks import required_name
from .errors import Conflict, NotFound, ValidationFailed
from .outbox import OutboxEvent

# What a partner can subscribe to: the seed's event names, raised by their own use cases.
EVENT_TYPES = (
    "member-created", "member-updated", "member-tier-set", "member-tier-removed",
    "ledger-transaction-created",  # points minted or burned (payload type: mint | burn)
    "coupon-code-assigned", "coupon-code-used",
    "member-purchase-order-confirmed", "member-purchase-order-returned", "member-purchase-order-partially-returned",
    "mission-status-updated",  # a mission completed
    "referral-completed",
)
TEST_EVENT = "webhook-test"

PENDING, SUCCESS, FAILED = "pending", "success", "failed"
RUNNING = "running"  # shown, not stored: a pending delivery whose claim is alive
ABANDONED = "abandoned"  # an attempt whose worker stopped before the answer (its lease expired)
RETRY_WINDOW = dt.timedelta(days=3)
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_RETRY = dt.timedelta(hours=6)
EXCERPT_CHARS = 500
MAX_URL = 2000


class ReceiverRefused(ValidationFailed):
    code = "receiver_refused"
    title = "Receiver URL refused"


class WebhookSubscription(IndexedOwnedRow, Base):
    """A receiver URL, the event types it wants, and the secret its deliveries are signed with."""

    __tablename__ = "webhook_subscriptions"

    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(MAX_URL))
    event_types: Mapped[list[str]] = mapped_column(default=list)
    # Kept readable: the worker signs with it. Shown once, when created or rotated.
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def secret_hint(self) -> str:
        return f"whsec_…{self.secret[-4:]}"


class WebhookDelivery(OwnedRow, Base):
    """One event for one subscription, until a 2xx answer or the end of its retry window."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "outbox_event_id"),
                      Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
                      Index("ix_webhook_deliveries_member", "subscription_id", "member_id", "outbox_event_id"))

    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    outbox_event_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_events.id"), default=None)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[dt.datetime]
    claimed_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    claim_token: Mapped[str | None] = mapped_column(String(32), default=None)
    last_status_code: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    def state(self, now: dt.datetime | None = None) -> str:
        """pending | running | success | failed (the seed's event statuses)."""
        if self.status == PENDING and self.claimed_until is not None and self.claimed_until > (now or utcnow()):
            return RUNNING
        return self.status


class WebhookAttempt(Base):
    """One HTTP call: logged when claimed, completed with the answer (or left abandoned)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    number: Mapped[int]
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)  # None while running
    status_code: Mapped[int | None] = mapped_column(default=None)
    latency_ms: Mapped[int | None] = mapped_column(default=None)
    response_excerpt: Mapped[str] = mapped_column(String(EXCERPT_CHARS), default="")
    error: Mapped[str] = mapped_column(String(500), default="")


# --- receivers: which URLs, and how deliveries are signed --------------------------------------

def address_refusal(address: str, *, allow_private: bool) -> str | None:
    """Why a receiver may not be reached at this IP address, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        return f"{ip} is not a host address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_global:
        return None
    if allow_private and (ip.is_loopback or ip.is_private):
        return None
    kind = "loopback" if ip.is_loopback else "private or reserved"
    return f"{ip} is a {kind} address; receivers must be on the public internet"


def check_receiver_url(url: str, *, allow_private: bool,
                       resolve: Callable[[str, int], list[str]] | None = None) -> str:
    """The URL, stripped, when it may receive deliveries. Raises ReceiverRefused (field url).

    A host name is resolved now and every address it has must be allowed; a name that does
    not resolve yet is accepted (each delivery checks the address it connects to).
    """
    url = (url or "").strip()
    if not url or len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        raise ReceiverRefused(f"Give an http(s) URL of at most {MAX_URL} characters without spaces", field="url")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ReceiverRefused("Only http and https URLs can receive webhooks", field="url")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise ReceiverRefused("The URL's port is not a number from 1 to 65535", field="url") from None
    if not parts.hostname:
        raise ReceiverRefused("The URL needs a host name", field="url")
    if parts.username is not None or parts.password is not None:
        raise ReceiverRefused("Put no user name or password in the URL", field="url")
    try:
        addresses = [str(ipaddress.ip_address(parts.hostname))]
    except ValueError:
        addresses = (resolve or _resolve)(parts.hostname, port)
    for address in addresses:
        reason = address_refusal(address, allow_private=allow_private)
        if reason:
            raise ReceiverRefused(f"The URL is refused: {reason}", field="url")
    return url


def _resolve(host: str, port: int) -> list[str]:
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
    except (socket.gaierror, UnicodeError):
        return []


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, keyed with the secret's bytes (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": event_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, event_id, timestamp, body)}


def retry_delay(attempt: int, rng: Callable[[], float] = random.random) -> dt.timedelta:
    """Wait after failed attempt n: 30 s doubling up to 6 h, of which a random half (equal jitter)."""
    nominal = min(FIRST_RETRY * 2 ** min(max(attempt, 1) - 1, 20), LONGEST_RETRY)  # 2**20 * 30 s: far past 6 h
    return nominal / 2 + nominal / 2 * rng()


# --- subscriptions ----------------------------------------------------------------------------

def create_subscription(session: Session, organization_id: int, *, actor: Actor, name: str, url: str,
                        event_types: list[str], allow_private: bool, active: bool = True,
                        resolve: Callable | None = None) -> WebhookSubscription:
    """A new subscription with a fresh secret. Raises ValidationFailed, ReceiverRefused."""
    subscription = WebhookSubscription(
        organization_id=organization_id, name=required_name(name), event_types=_event_types(event_types),
        url=check_receiver_url(url, allow_private=allow_private, resolve=resolve), secret=new_secret(),
        active=active)
    return audit.record_added(session, actor, "webhook.created", subscription, eventTypes=subscription.event_types)


def update_subscription(session: Session, subscription: WebhookSubscription, *, actor: Actor, allow_private: bool,
                        name: str | None = None, url: str | None = None, event_types: list[str] | None = None,
                        active: bool | None = None, rotate_secret: bool = False,
                        resolve: Callable | None = None) -> WebhookSubscription:
    """Change what was given. Raises ValidationFailed, ReceiverRefused."""
    changed = []
    if name is not None:
        subscription.name = required_name(name)
        changed.append("name")
    if url is not None:
        subscription.url = check_receiver_url(url, allow_private=allow_private, resolve=resolve)
        changed.append("url")
    if event_types is not None:
        subscription.event_types = _event_types(event_types)
        changed.append("eventTypes")
    if active is not None:
        subscription.active = active
        changed.append("active")
    if rotate_secret:
        # Deliveries already queued are signed at sending time, so they use the new secret too.
        subscription.secret = new_secret()
        changed.append("secret")
    return audit.record_changed(session, actor, "webhook.updated", subscription, fields=changed)


def reveal_secret(session: Session, subscription: WebhookSubscription, *, actor: Actor) -> str:
    """The signing secret, for a receiver's set-up; who saw it is audited."""
    audit.record(session, actor, "webhook.secret_shown", subscription)
    return subscription.secret


def delete_subscription(session: Session, subscription: WebhookSubscription, *, actor: Actor) -> None:
    """Stop all deliveries to it and hide it; the delivery log stays for the audit trail."""
    subscription.deleted_at = subscription.updated_at = utcnow()
    subscription.active = False
    session.flush()
    audit.record(session, actor, "webhook.deleted", subscription)


def get_subscription(session: Session, organization_id: int, subscription_id: int) -> WebhookSubscription:
    subscription = get_owned(session, WebhookSubscription, subscription_id, organization_id,
                             what="Webhook", field="webhookId")
    if subscription.deleted_at:
        raise NotFound("Webhook not found", field="webhookId")
    return subscription


def subscriptions_query(organization_id: int, *, active: bool | None = None):
    stmt = select(WebhookSubscription).where(WebhookSubscription.organization_id == organization_id,
                                             WebhookSubscription.deleted_at.is_(None))
    if active is not None:
        stmt = stmt.where(WebhookSubscription.active.is_(active))
    return stmt


def _event_types(event_types: list[str]) -> list[str]:
    wanted = list(dict.fromkeys(event_types or []))
    if not wanted:
        raise ValidationFailed("Choose at least one event type", field="eventTypes")
    unknown = [t for t in wanted if t not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed(f"Unknown event type {unknown[0]}", field="eventTypes")
    return wanted


# --- deliveries -------------------------------------------------------------------------------

def deliveries_query(subscription: WebhookSubscription, *, status: str | None = None,
                     event_type: str | None = None, now: dt.datetime | None = None):
    """The subscription's deliveries; status `running` means pending with a live claim."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
    now = now or utcnow()
    live_claim = WebhookDelivery.claimed_until > now
    if status == RUNNING:
        stmt = stmt.where(WebhookDelivery.status == PENDING, live_claim)
    elif status == PENDING:
        stmt = stmt.where(WebhookDelivery.status == PENDING,
                          or_(WebhookDelivery.claimed_until.is_(None), ~live_claim))
    elif status:
        stmt = stmt.where(WebhookDelivery.status == status)
    if event_type:
        stmt = stmt.where(WebhookDelivery.event_type == event_type)
    return stmt


def attempts_of(session: Session, delivery_ids: list[int]) -> dict[int, list[WebhookAttempt]]:
    """Each delivery's attempts, first first."""
    found: dict[int, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        for attempt in session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids))
                                       .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)):
            found[attempt.delivery_id].append(attempt)
    return found


def get_delivery(session: Session, subscription: WebhookSubscription, delivery_id: int) -> WebhookDelivery:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.subscription_id != subscription.id:
        raise NotFound("Delivery not found", field="deliveryId")
    return delivery


def queue_test(session: Session, subscription: WebhookSubscription, *, actor: Actor) -> WebhookDelivery:
    """Queue a `webhook-test` event to this subscription alone, due at once. Raises Conflict when inactive."""
    if not subscription.active:
        raise Conflict("Activate the webhook before testing it", field="active")
    now = utcnow()
    delivery = _delivery(subscription, _event_id(), TEST_EVENT, now, member_id=None, outbox_event_id=None,
                         data={"webhookId": subscription.id, "message": "A test event from Portal"})
    session.add(delivery)
    session.flush()
    audit.record(session, actor, "webhook.tested", subscription, deliveryId=delivery.id)
    return delivery


def redeliver(session: Session, subscription: WebhookSubscription, delivery: WebhookDelivery, *,
              actor: Actor) -> WebhookDelivery:
    """Send the same event (same id and body) again now, with a fresh retry window.
    Raises Conflict while a worker is sending it."""
    now = utcnow()
    if delivery.state(now) == RUNNING:
        raise Conflict("This delivery is being sent right now", field="deliveryId")
    delivery.status, delivery.next_attempt_at, delivery.deadline_at = PENDING, now, now + RETRY_WINDOW
    delivery.finished_at = None
    session.flush()
    audit.record(session, actor, "webhook.redelivered", subscription, deliveryId=delivery.id)
    return delivery


def enqueue_deliveries(session: Session, event: OutboxEvent) -> None:
    """Queue the event for each active subscription that wants it (run while the outbox drains)."""
    if event.event_type not in EVENT_TYPES:
        return
    subscriptions = session.scalars(subscriptions_query(event.organization_id, active=True)
                                    .where(WebhookSubscription.created_at <= event.created_at)
                                    .order_by(WebhookSubscription.id))
    event_id = _event_id()  # one id for the event, whichever receivers get it
    for subscription in subscriptions:
        if event.event_type in subscription.event_types:
            session.add(_delivery(subscription, event_id, event.event_type, event.created_at,
                                  member_id=event.member_id, outbox_event_id=event.id,
                                  data={"memberId": event.member_id, **(event.payload or {})}))
    session.flush()


jobs.outbox_consumers.append(enqueue_deliveries)


def _event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def _delivery(subscription: WebhookSubscription, event_id: str, event_type: str, occurred_at: dt.datetime, *,
              member_id: int | None, outbox_event_id: int | None, data: dict[str, Any]) -> WebhookDelivery:
    body = json.dumps({"id": event_id, "type": event_type, "createdAt": isoformat(occurred_at),
                       "organizationId": subscription.organization_id, "data": data}, separators=(",", ":"))
    now = utcnow()
    return WebhookDelivery(organization_id=subscription.organization_id, subscription_id=subscription.id,
                           outbox_event_id=outbox_event_id, member_id=member_id, event_id=event_id,
                           event_type=event_type, body=body, status=PENDING, created_at=now, next_attempt_at=now,
                           deadline_at=now + RETRY_WINDOW)


# --- sending: claim, then (outside the transaction) call, then record ---------------------------

@dataclass(frozen=True)
class Claim:
    """What a worker needs to make one attempt, and the token that proves it still holds it."""

    delivery_id: int
    attempt_id: int
    number: int
    token: str = field(repr=False)
    url: str
    secret: str = field(repr=False)
    event_id: str
    body: str


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    latency_ms: int
    response_excerpt: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim_next(session: Session, *, now: dt.datetime, lease: dt.timedelta) -> Claim | None:
    """Claim the next due delivery for one attempt, or None. The caller commits before calling out."""
    d, earlier = WebhookDelivery, aliased(WebhookDelivery)
    earlier_pending = select(earlier.id).where(
        earlier.subscription_id == d.subscription_id, earlier.member_id == d.member_id,
        earlier.outbox_event_id < d.outbox_event_id, earlier.status == PENDING).exists()
    earlier_undrained = select(OutboxEvent.id).where(
        OutboxEvent.member_id == d.member_id, OutboxEvent.id < d.outbox_event_id,
        OutboxEvent.processed_at.is_(None)).exists()
    delivery = session.scalars(
        select(d).join(WebhookSubscription, WebhookSubscription.id == d.subscription_id)
        .where(d.status == PENDING, d.next_attempt_at <= now, or_(d.claimed_until.is_(None), d.claimed_until <= now),
               WebhookSubscription.active.is_(True), WebhookSubscription.deleted_at.is_(None),
               ~earlier_pending, ~earlier_undrained)
        .order_by(d.next_attempt_at, d.id).limit(1).with_for_update(skip_locked=True, of=d)).first()
    if delivery is None:
        return None
    # An attempt still open belongs to a worker whose lease ran out: it stopped before the answer.
    session.execute(update(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id,
                                                 WebhookAttempt.outcome.is_(None))
                    .values(outcome=ABANDONED, finished_at=now, error="The worker stopped before the answer")
                    .execution_options(synchronize_session=False))
    delivery.attempt_count += 1
    delivery.claimed_until, delivery.claim_token = now + lease, secrets.token_hex(16)
    attempt = WebhookAttempt(delivery_id=delivery.id, number=delivery.attempt_count, started_at=now)
    session.add(attempt)
    session.flush()
    subscription = session.get(WebhookSubscription, delivery.subscription_id)
    return Claim(delivery_id=delivery.id, attempt_id=attempt.id, number=attempt.number, token=delivery.claim_token,
                 url=subscription.url, secret=subscription.secret, event_id=delivery.event_id, body=delivery.body)


def record_outcome(session: Session, claim: Claim, result: AttemptResult, *, now: dt.datetime,
                   rng: Callable[[], float] = random.random) -> str:
    """Log the attempt's answer and move the delivery on: success, a retry later, or failed.
    Returns the delivery's status, or `lost` when the claim had expired and was taken over."""
    attempt = session.get(WebhookAttempt, claim.attempt_id)
    attempt.outcome = SUCCESS if result.ok else FAILED
    attempt.finished_at, attempt.status_code, attempt.latency_ms = now, result.status_code, result.latency_ms
    attempt.response_excerpt = result.response_excerpt[:EXCERPT_CHARS]
    attempt.error = result.error[:500]
    delivery = session.scalars(select(WebhookDelivery).where(WebhookDelivery.id == claim.delivery_id,
                                                            WebhookDelivery.claim_token == claim.token)
                               .with_for_update()).first()
    if delivery is None:
        session.flush()
        return "lost"
    delivery.claimed_until = delivery.claim_token = None
    delivery.last_status_code = result.status_code
    retry_at = now + retry_delay(claim.number, rng)
    if result.ok or retry_at > delivery.deadline_at:
        delivery.status, delivery.finished_at = (SUCCESS if result.ok else FAILED), now
    else:
        delivery.next_attempt_at = retry_at
    session.flush()
    return delivery.status
