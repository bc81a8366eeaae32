"""Loyalty event types, tracking custom events, and a member's event feed."""
from __future__ import annotations

from ..domain import custom_events
from ..domain.custom_events import EventType
from ..domain.outbox import OutboxEvent
from .core import Call, endpoint, ok, page_response
from .members import resolve_member
from .schemas import events as s
from .schemas.common import EffectOut

ORG = "/organizations/<int:organizationId>"
TYPE_ORDER = {"createdAt": EventType.created_at, "id": EventType.id, "name": EventType.name}
FEED_ORDER = {"createdAt": OutboxEvent.id, "id": OutboxEvent.id}  # ids follow commit order within a member


def event_type_out(t: EventType) -> s.EventTypeOut:
    return s.EventTypeOut(id=t.id, name=t.name, description=t.description, active=t.active,
                          created_at=t.created_at, updated_at=t.updated_at)


def _feed_item_out(e: OutboxEvent) -> s.FeedItemOut:
    return s.FeedItemOut(id=e.id, event_type=e.event_type, member_id=e.member_id, summary=custom_events.summarise(e),
                         payload=e.payload or {}, created_at=e.created_at)


@endpoint(f"{ORG}/event-types", role="campaigns:read", query=s.EventTypeQuery, response=s.EventTypePage,
          tag="Events", summary="Custom loyalty event types (and the names of the built-in ones)")
def list_event_types(call: Call):
    q: s.EventTypeQuery = call.query
    return page_response(call, custom_events.list_query(call.organization_id, active=q.active), s.EventTypePage,
                         event_type_out, orders=TYPE_ORDER,
                         builtin_event_types=list(custom_events.BUILT_IN_EVENT_TYPES))


@endpoint(f"{ORG}/event-types", "POST", role="campaigns:write", body=s.EventTypeIn, response=s.EventTypeEnvelope,
          status=201, tag="Events", summary="Create a custom event type that integrations can track")
def create_event_type(call: Call):
    b: s.EventTypeIn = call.body
    event_type = custom_events.create_event_type(call.session, call.organization_id, name=b.name,
                                                  description=b.description, active=b.active, actor=call.actor)
    return ok(s.EventTypeEnvelope(event_type=event_type_out(event_type)).dump(), 201)


@endpoint(f"{ORG}/event-types/<name>", role="campaigns:read", response=s.EventTypeEnvelope, tag="Events",
          summary="Get a custom event type by its name")
def get_event_type(call: Call, name: str):
    return ok(s.EventTypeEnvelope(event_type=event_type_out(
        custom_events.get_event_type(call.session, call.organization_id, name))).dump())


@endpoint(f"{ORG}/event-types/<name>", "PATCH", role="campaigns:write", body=s.EventTypeUpdate,
          response=s.EventTypeEnvelope, tag="Events", summary="Change an event type's description or active flag")
def update_event_type(call: Call, name: str):
    event_type = custom_events.get_event_type(call.session, call.organization_id, name)
    custom_events.update_event_type(call.session, event_type, actor=call.actor, description=call.body.description,
                                     active=call.body.active)
    return ok(s.EventTypeEnvelope(event_type=event_type_out(event_type)).dump())


@endpoint(f"{ORG}/events", "POST", role="members:write", body=s.TrackIn, response=s.TrackOut, status=201,
          tag="Events", idempotent=True,
          summary="Track a custom event for a member; returns the effects it caused (once per systemUniqueKey)")
def track(call: Call):
    b: s.TrackIn = call.body
    member = resolve_member(call, str(b.member_id))
    tracked = custom_events.track_event(call.session, member, b.event_type, b.payload, actor=call.actor,
                                         system_unique_key=b.system_unique_key,
                                         external_event_date=b.external_event_date, description=b.description,
                                         tags=b.tags)
    payload = s.TrackOut(system_unique_key=tracked.system_unique_key,
                         effects=[EffectOut.model_validate(e) for e in tracked.effects]).dump()
    return ok(payload, 201, replayed=tracked.replayed)


@endpoint(f"{ORG}/members/<memberId>/events", role="members:read", query=s.FeedQuery, response=s.FeedPage,
          tag="Events", summary="A member's events, newest first: signup, tiers, purchases, coupons, missions, points")
def member_events(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    q: s.FeedQuery = call.query
    stmt = custom_events.feed_query(call.organization_id, member.id, event_type=q.event_type,
                                     from_created_at=q.from_created_at, to_created_at=q.to_created_at)
    return page_response(call, stmt, s.FeedPage, _feed_item_out, orders=FEED_ORDER)
