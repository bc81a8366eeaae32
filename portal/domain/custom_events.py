"""Loyalty event types, tracked custom events, and a member's event feed.

Built-in events (purchases, signups, coupon uses, tier changes...) are raised by
their own use cases; organisations add custom event types (`app-review-written`)
and integrations track them with `POST /events`. Tracking writes an outbox row
and runs the earning engine, returning the effects it caused.

Invariants:
- A custom event type name is a slug unique per organisation and never shadows a
  built-in event name.
- Only active custom types (and the seed's `member-generic-event`) can be
  tracked; built-in events come from their own resources (a purchase from an
  order), so an integration cannot fake a purchase through /events.
- At most one tracking per (organisation, systemUniqueKey): a replay returns the
  first call's effects and changes nothing; the same key with another body is a
  conflict. Nothing is stored when validation fails.
- The member feed is read from the outbox, so it lists exactly the events that
  were committed, and only the member's own.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit, earning, outbox, idempotency
from .actors import Actor
from .base import Base, OwnedRow, assign_given, isoformat, utcnow
from .errors import DuplicateValue, NotFound, ValidationFailed
from .outbox import OutboxEvent
from .members import Member
from .pagination import where_given, within

GENERIC_EVENT = "member-generic-event"
# The seed's list of event names (Member Events, Missions), plus the engine's own.
SEED_EVENT_TYPES = (
    "member-purchase-order-created", "member-purchase-order-confirmed", "member-purchase-order-cancelled",
    "member-purchase-order-returned", "member-purchase-order-partially-returned", "member-created",
    "member-updated", "member-tier-set", "member-tier-removed", "member-profile-deactivated", GENERIC_EVENT,
    "benefit-used", "coupon-code-assigned", "coupon-code-used", "badge-minted", "mission-status-updated",
    "ledger-transaction-created",
)
BUILT_IN_EVENT_TYPES = tuple(dict.fromkeys(SEED_EVENT_TYPES + earning.BUILT_IN_EVENTS))
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{2,99}$")


class UnknownEventType(ValidationFailed):
    """A campaign, mission or referral programme names, or a tracking sends, an event type that is neither built in
    nor one of the organisation's custom types (for the first three, an inactive custom type counts as unknown)."""

    code = "unknown_event_type"
    title = "Unknown or inactive event type"


class EventTypeNotTrackable(ValidationFailed):
    """A tracking (POST /events) names a built-in event, which only its own resource raises (a purchase comes from an
    order, so an integration cannot fake one), or a custom type that is switched off."""

    code = "event_type_not_trackable"
    title = "This event type cannot be tracked"


class EventType(OwnedRow, Base):
    """A custom event an organisation tracks (`app-review-written`), which campaigns, missions and referral
    programmes can react to; `name` is its slug, unique in the organisation and never a built-in event's name."""

    __tablename__ = "event_types"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- event types ------------------------------------------------------------------------

def create_event_type(session: Session, organization_id: int, *, name: str, actor: Actor, description: str = "",
                      active: bool = True) -> EventType:
    """Add a custom event type. Raises ValidationFailed (not a slug, a built-in name), DuplicateValue."""
    name = (name or "").strip()
    if not SLUG.match(name):
        raise ValidationFailed("name must be 3 to 100 lower-case letters, digits or hyphens (a slug)", field="name")
    if name in BUILT_IN_EVENT_TYPES:
        raise ValidationFailed(f"{name} is a built-in event type", field="name")
    if _find(session, organization_id, name) is not None:
        raise DuplicateValue("An event type with this name already exists", field="name")
    event_type = EventType(organization_id=organization_id, name=name, description=description or "",
                           active=active)
    return audit.record_added(session, actor, "event_type.created", event_type, name=name)


def update_event_type(session: Session, event_type: EventType, *, actor: Actor, description: str | None = None,
                      active: bool | None = None) -> EventType:
    """Change the description or switch tracking on or off (the name is the integration's key; it stays)."""
    changed = assign_given(event_type, description=description, active=active)
    return audit.record_changed(session, actor, "event_type.updated", event_type, fields=changed)


def get_event_type(session: Session, organization_id: int, name: str) -> EventType:
    event_type = _find(session, organization_id, name)
    if event_type is None:
        raise NotFound("Event type not found", field="eventType")
    return event_type


def list_query(organization_id: int, *, active: bool | None = None):
    stmt = select(EventType).where(EventType.organization_id == organization_id)
    if active is not None:
        stmt = stmt.where(EventType.active.is_(active))
    return stmt


def is_known(session: Session, organization_id: int, name: str) -> bool:
    """A built-in event or an active custom type: what a mission or campaign may listen to."""
    if name in BUILT_IN_EVENT_TYPES:
        return True
    event_type = _find(session, organization_id, name)
    return event_type is not None and event_type.active


def require_known(session: Session, organization_id: int, name: str, *, field: str = "eventType") -> str:
    """Raises UnknownEventType naming `field` unless `name` is built in or an active custom type."""
    if not is_known(session, organization_id, name):
        raise UnknownEventType(f"Unknown or inactive event type {name!r}", field=field)
    return name


def require_trackable(session: Session, organization_id: int, name: str) -> str:
    """Custom types (active) and member-generic-event may be tracked.

    Raises on eventType UnknownEventType, EventTypeNotTrackable (built in, or inactive).
    """
    if name == GENERIC_EVENT:
        return name
    if name in BUILT_IN_EVENT_TYPES:
        raise EventTypeNotTrackable(f"{name} is raised by its own resource (orders, members, coupons); "
                               "track custom event types here", field="eventType")
    event_type = _find(session, organization_id, name)
    if event_type is None:
        raise UnknownEventType(f"Unknown event type {name!r}; create it under /event-types first",
                               field="eventType")
    if not event_type.active:
        raise EventTypeNotTrackable(f"Event type {name!r} is not active", field="eventType")
    return name


# --- tracking ---------------------------------------------------------------------------

@dataclass
class Tracked:
    system_unique_key: str
    effects: list[dict[str, Any]]
    replayed: bool = False
    outbox_event_id: int | None = None


def track_event(session: Session, member: Member, event_type: str, payload: dict[str, Any] | None = None, *,
                actor: Actor, system_unique_key: str, external_event_date: dt.datetime | None = None,
                description: str = "", tags: list[str] | None = None) -> Tracked:
    """Record a custom event and run the engine on it, once per systemUniqueKey.

    Raises ValidationFailed (eventType unknown or inactive, key missing), IdempotencyKeyReused.
    """
    if not system_unique_key:
        raise ValidationFailed("systemUniqueKey is required", field="systemUniqueKey")
    require_trackable(session, member.organization_id, event_type)
    payload = dict(payload or {})
    params = {"member": member.id, "eventType": event_type, "payload": payload,
              "externalEventDate": isoformat(external_event_date), "description": description, "tags": tags or []}

    def perform() -> dict[str, Any]:
        row = outbox.emit(session, member.organization_id, event_type, member_id=member.id,
                          systemUniqueKey=system_unique_key, payload=payload,
                          externalEventDate=isoformat(external_event_date), description=description,
                          tags=list(tags or []))
        session.flush()
        loyalty_event = earning.LoyaltyEvent(organization_id=member.organization_id, member=member,
                                            event_type=event_type, payload=payload,
                                            occurred_at=external_event_date or utcnow(),
                                            system_unique_key=system_unique_key)
        evaluation = earning.dispatch(session, loyalty_event, actor=actor)
        audit.record(session, actor, "event.tracked", member, eventType=event_type, outboxEventId=row.id)
        return {"outboxEventId": row.id, "effects": [effect.as_dict() for effect in evaluation.effects]}

    outcome = idempotency.run_once(session, member.organization_id, system_unique_key, "event.track", params,
                                   perform)
    return Tracked(system_unique_key=system_unique_key, effects=outcome.result.get("effects", []),
                   replayed=outcome.replayed, outbox_event_id=outcome.result.get("outboxEventId"))


# --- the member's feed ------------------------------------------------------------------------

FEED_SUMMARIES = {
    "member-created": "Joined the programme",
    "member-updated": "Profile updated",
    "member-tier-set": "Tier changed",
    "member-tier-removed": "Tier removed",
    "member-purchase-order-created": "Purchase recorded",
    "member-purchase-order-confirmed": "Purchase confirmed",
    "member-purchase-order-cancelled": "Purchase cancelled",
    "member-purchase-order-returned": "Purchase returned",
    "member-purchase-order-partially-returned": "Purchase partly returned",
    "coupon-code-assigned": "Coupon received",
    "coupon-code-used": "Coupon used",
    "mission-status-updated": "Mission completed",
    "referral-completed": "Referral completed",
}


def feed_query(organization_id: int, member_id: int, *, event_type: str | None = None,
               from_created_at: dt.datetime | None = None, to_created_at: dt.datetime | None = None):
    """The member's outbox events (newest first when ordered by id desc)."""
    stmt = where_given(select(OutboxEvent).where(OutboxEvent.organization_id == organization_id,
                                                 OutboxEvent.member_id == member_id),
                       (OutboxEvent.event_type, event_type or None))
    return within(stmt, OutboxEvent.created_at, from_created_at, to_created_at)


def summarise(event: OutboxEvent) -> str:
    """One line for a feed: 'Ledger: +50 points', 'Mission completed: Coffee lover'."""
    payload = event.payload or {}
    if event.event_type == "ledger-transaction-created":
        amount = payload.get("amount", 0)
        sign = "-" if payload.get("type") in ("burn",) else "+"
        return f"Points {sign}{amount}"
    if event.event_type == "mission-status-updated" and payload.get("missionName"):
        return f"Mission completed: {payload['missionName']}"
    return FEED_SUMMARIES.get(event.event_type, event.event_type.replace("-", " ").capitalize())


def _find(session: Session, organization_id: int, name: str) -> EventType | None:
    return session.scalars(select(EventType).where(EventType.organization_id == organization_id,
                                                   EventType.name == name)).first()
