"""Loyalty event types, tracking custom events, and a member's event feed."""
from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from ..domain import custom_events
from ..domain.outbox import OutboxEvent
from ..domain.custom_events import EventType
from ..domain.pagination import paginate, parse_order
from . import schemas as s
from . import serializers as out
from .core import Call, endpoint, ok
from .earning import EffectOut
from .members import resolve_member

ORG = "/organizations/<int:organizationId>"
MAX_PAYLOAD = 16_000  # characters of JSON
TYPE_ORDER = {"createdAt": EventType.created_at, "id": EventType.id, "name": EventType.name}
FEED_ORDER = {"createdAt": OutboxEvent.id, "id": OutboxEvent.id}  # ids follow commit order within a member
EventName = Annotated[str, StringConstraints(min_length=3, max_length=100)]


class EventTypeIn(s.In):
    name: EventName = Field(description="A slug: lower-case letters, digits and hyphens (app-review-written)")
    description: s.Text = ""
    active: bool = True


class EventTypeUpdate(s.In):
    description: s.Text | None = None
    active: bool | None = None


class EventTypeOut(s.Out):
    id: int
    name: str
    description: str
    active: bool
    schema_type: str = "custom"
    created_at: dt.datetime
    updated_at: dt.datetime


class EventTypeEnvelope(s.Out):
    event_type: EventTypeOut


class EventTypePage(s.PageOut):
    results: list[EventTypeOut]
    builtin_event_types: list[str] = Field(description="Raised by their own resources; missions may listen to them")


class EventTypeQuery(s.ListQuery):
    active: bool | None = None


class TrackIn(s.In):
    system_unique_key: Annotated[str, StringConstraints(min_length=3, max_length=255)]
    member_id: int = Field(ge=1)
    event_type: EventName
    payload: dict[str, Any] = Field(default_factory=dict)
    external_event_date: s.UtcDateTime | None = None
    external_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    description: s.Text = ""
    tags: s.Tags = Field(default_factory=list)
    organization_id: int | None = Field(None, description="Ignored; the token's organisation applies")

    @field_validator("payload")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, default=str)) > MAX_PAYLOAD:
            raise ValueError(f"payload must be at most {MAX_PAYLOAD} characters of JSON")
        return value


class TrackOut(s.Out):
    system_unique_key: str
    effects: list[EffectOut]


class FeedQuery(s.ListQuery):
    event_type: str | None = None
    from_created_at: s.UtcDateTime | None = None
    to_created_at: s.UtcDateTime | None = None


class FeedItemOut(s.Out):
    id: int
    event_type: str
    member_id: int
    summary: str
    payload: dict[str, Any]
    created_at: dt.datetime


class FeedPage(s.PageOut):
    results: list[FeedItemOut]


def event_type_out(t: EventType) -> EventTypeOut:
    return EventTypeOut(id=t.id, name=t.name, description=t.description, active=t.active, created_at=t.created_at,
                        updated_at=t.updated_at)


@endpoint(f"{ORG}/event-types", role="campaigns:read", query=EventTypeQuery, response=EventTypePage,
          tag="Events", summary="Custom loyalty event types (and the names of the built-in ones)")
def list_event_types(call: Call):
    q: EventTypeQuery = call.query
    result = paginate(call.session, custom_events.list_query(call.organization_id, active=q.active), page=q.page,
                      limit=q.limit, order=parse_order(q.order, TYPE_ORDER))
    return ok(EventTypePage(total_count=result.total, page=result.page, limit=result.limit,
                            results=[event_type_out(t) for t in result.items],
                            builtin_event_types=list(custom_events.BUILT_IN_EVENT_TYPES)).dump())


@endpoint(f"{ORG}/event-types", "POST", role="campaigns:write", body=EventTypeIn, response=EventTypeEnvelope,
          status=201, tag="Events", summary="Create a custom event type that integrations can track")
def create_event_type(call: Call):
    b: EventTypeIn = call.body
    event_type = custom_events.create_event_type(call.session, call.organization_id, name=b.name,
                                                  description=b.description, active=b.active, actor=call.actor)
    return ok(EventTypeEnvelope(event_type=event_type_out(event_type)).dump(), 201)


@endpoint(f"{ORG}/event-types/<name>", role="campaigns:read", response=EventTypeEnvelope, tag="Events",
          summary="Get a custom event type by its name")
def get_event_type(call: Call, name: str):
    return ok(EventTypeEnvelope(event_type=event_type_out(
        custom_events.get_event_type(call.session, call.organization_id, name))).dump())


@endpoint(f"{ORG}/event-types/<name>", "PATCH", role="campaigns:write", body=EventTypeUpdate,
          response=EventTypeEnvelope, tag="Events", summary="Change an event type's description or active flag")
def update_event_type(call: Call, name: str):
    event_type = custom_events.get_event_type(call.session, call.organization_id, name)
    custom_events.update_event_type(call.session, event_type, actor=call.actor, description=call.body.description,
                                     active=call.body.active)
    return ok(EventTypeEnvelope(event_type=event_type_out(event_type)).dump())


@endpoint(f"{ORG}/events", "POST", role="members:write", body=TrackIn, response=TrackOut, status=201,
          tag="Events", idempotent=True,
          summary="Track a custom event for a member; returns the effects it caused (once per systemUniqueKey)")
def track(call: Call):
    b: TrackIn = call.body
    member = resolve_member(call, str(b.member_id))
    tracked = custom_events.track_event(call.session, member, b.event_type, b.payload, actor=call.actor,
                                         system_unique_key=b.system_unique_key,
                                         external_event_date=b.external_event_date, description=b.description,
                                         tags=b.tags)
    payload = TrackOut(system_unique_key=tracked.system_unique_key,
                       effects=[EffectOut.model_validate(e) for e in tracked.effects]).dump()
    return ok(payload, 201, replayed=tracked.replayed)


@endpoint(f"{ORG}/members/<memberId>/events", role="members:read", query=FeedQuery, response=FeedPage,
          tag="Events", summary="A member's events, newest first: signup, tiers, purchases, coupons, missions, points")
def member_events(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    q: FeedQuery = call.query
    stmt = custom_events.feed_query(call.organization_id, member.id, event_type=q.event_type,
                                     from_created_at=q.from_created_at, to_created_at=q.to_created_at)
    result = paginate(call.session, stmt, page=q.page, limit=q.limit, order=parse_order(q.order, FEED_ORDER))
    items = [FeedItemOut(id=e.id, event_type=e.event_type, member_id=e.member_id,
                         summary=custom_events.summarise(e), payload=e.payload or {}, created_at=e.created_at)
             for e in result.items]
    return ok(out.page(FeedPage, result, items))
