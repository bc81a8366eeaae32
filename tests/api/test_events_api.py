"""Event types, tracking with systemUniqueKey and the member event feed over the JSON API."""
from __future__ import annotations

from sqlalchemy import func, select

from portal.domain.audit import AuditEntry
from portal.domain.custom_events import EventType
from portal.domain.idempotency import IdempotencyKey
from portal.domain.ledger import LedgerTransaction
from portal.domain.missions import MissionProgress
from portal.domain.outbox import OutboxEvent
from tests import factories

from .conftest import problem


def written(session) -> dict[str, int]:
    """Rows tracking an event or defining a type could write, to show that a refusal wrote none."""
    session.expire_all()
    return {model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (EventType, OutboxEvent, IdempotencyKey, LedgerTransaction, MissionProgress, AuditEntry)}


def refused(response, status: int, rule: str, field: str) -> dict:
    """problem+json of this status and type, naming the field."""
    body = problem(response, status, field)
    assert body["type"].endswith("/" + rule), body
    return body


def setup_type(api, name="app-review-written", **fields):
    r = api.post("/event-types", json={"name": name, "description": "A store review", **fields})
    assert r.status_code == 201, r.json
    return r.json["eventType"]


def test_event_types_crud(api, session):
    session.commit()
    created = setup_type(api)
    assert (created["name"], created["active"], created["schemaType"]) == ("app-review-written", True, "custom")
    before = written(session)
    refused(api.post("/event-types", json={"name": "app-review-written", "description": "again"}), 409, "duplicate",
            "name")
    refused(api.post("/event-types", json={"name": "Not A Slug"}), 422, "validation-failed", "name")
    refused(api.post("/event-types", json={"name": "member-created"}), 422, "validation-failed", "name")
    assert written(session) == before
    assert session.scalars(select(EventType.description)).all() == ["A store review"]
    r = api.patch("/event-types/app-review-written", json={"active": False})
    assert r.status_code == 200 and r.json["eventType"]["active"] is False
    listed = api.get("/event-types").json
    assert [t["name"] for t in listed["results"]] == ["app-review-written"]
    assert "member-purchase-order-confirmed" in listed["builtinEventTypes"]
    assert api.get("/event-types?active=true").json["totalCount"] == 0
    refused(api.get("/event-types/nope-nope"), 404, "not-found", "eventType")


def test_track_returns_effects_and_replays(api, session, org):
    member = factories.make_member(session, org)
    session.commit()
    setup_type(api)
    mission = api.post("/missions", json={"name": "Review", "eventType": "app-review-written", "goalCount": 1,
                                          "pointsOnCompletion": 15, "matcher": "event.stars >= 4"}).json["mission"]
    body = {"systemUniqueKey": "rev-1", "memberId": member.id, "eventType": "app-review-written",
            "payload": {"stars": 5}, "externalEventDate": "2026-05-01T10:00:00Z"}
    r = api.post("/events", json=body)
    assert r.status_code == 201, r.json
    assert r.json["systemUniqueKey"] == "rev-1"
    assert [(e["type"], e["points"], e["source"]) for e in r.json["effects"]] == [
        ("increment_mission", 0, f"mission:{mission['id']}"), ("mission_completed", 15, f"mission:{mission['id']}")]
    replay = api.post("/events", json=body)
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json == r.json
    before = written(session)
    refused(api.post("/events", json={**body, "payload": {"stars": 1}}), 409, "idempotency-key-reused",
            "systemUniqueKey")
    assert written(session) == before
    assert api.get(f"/members/{member.id}/wallet").json["balances"][0]["balance"] == 15


def test_unknown_or_inactive_type_is_422_naming_event_type(api, session, org):
    member = factories.make_member(session, org)
    session.commit()
    body = {"systemUniqueKey": "x-1", "memberId": member.id, "eventType": "never-heard-of", "payload": {}}
    setup_type(api, active=False, name="paused-type")
    before = written(session)
    for event_type, rule in (("never-heard-of", "unknown-event-type"), ("paused-type", "event-type-not-trackable"),
                             ("member-purchase-order-confirmed", "event-type-not-trackable")):
        refused(api.post("/events", json={**body, "eventType": event_type}), 422, rule, "eventType")
    assert written(session) == before
    # Nothing was stored under the key: a valid event may use it now.
    setup_type(api)
    assert api.post("/events", json={**body, "eventType": "app-review-written"}).status_code == 201


def test_track_validates_the_body(api, session, org):
    member = factories.make_member(session, org)
    session.commit()
    setup_type(api)
    base = {"systemUniqueKey": "v-1", "memberId": member.id, "eventType": "app-review-written"}
    before = written(session)
    for body, field in (({k: v for k, v in base.items() if k != "systemUniqueKey"}, "systemUniqueKey"),
                        ({**base, "payload": "text"}, "payload"),
                        ({**base, "payload": {"x": "y" * 20_000}}, "payload"),
                        ({**base, "externalEventDate": "2026-05-01T10:00:00"}, "externalEventDate"),
                        ({**base, "balance": 5}, "balance")):
        refused(api.post("/events", json=body), 422, "invalid-field", field)
    assert written(session) == before


def test_feed_lists_the_members_events_newest_first(api, session, org):
    member = factories.make_member(session, org)
    other = factories.make_member(session, org)
    session.commit()
    setup_type(api)
    lmid = member.loyalty_member_id
    api.post(f"/loyalty-members/{lmid}/mint", json={"amount": 20, "systemUniqueKey": "m-1"})
    api.post("/events", json={"systemUniqueKey": "e-1", "memberId": member.id, "eventType": "app-review-written"})
    api.post("/events", json={"systemUniqueKey": "e-2", "memberId": other.id, "eventType": "app-review-written"})
    feed = api.get(f"/members/{member.id}/events").json
    assert [e["eventType"] for e in feed["results"]] == ["app-review-written", "ledger-transaction-created",
                                                         "member-created"]
    assert feed["results"][1]["summary"] == "Points +20"
    assert all(e["memberId"] == member.id for e in feed["results"])
    page = api.get(f"/members/{member.id}/events?limit=1&page=1").json
    assert page["totalCount"] == 3 and [e["eventType"] for e in page["results"]] == ["ledger-transaction-created"]
    only = api.get(f"/members/{member.id}/events?eventType=member-created").json
    assert [e["eventType"] for e in only["results"]] == ["member-created"]


def test_feed_and_tracking_are_isolated_by_organisation(api, session, org, other_org):
    stranger = factories.make_member(session, other_org)
    session.commit()
    setup_type(api)
    before = written(session)
    refused(api.get(f"/members/{stranger.id}/events"), 404, "not-found", "memberId")
    refused(api.post("/events", json={"systemUniqueKey": "s-1", "memberId": stranger.id,
                                      "eventType": "app-review-written"}), 404, "not-found", "memberId")
    other = api.as_(other_org.api_key)
    # The path names this organisation.
    refused(other.get("/event-types"), 404, "not-found", "organizationId")
    refused(other.post("/event-types", json={"name": "stolen-type"}), 404, "not-found", "organizationId")
    assert written(session) == before


def test_roles(api, session, org):
    reader = factories.make_key(session, org, ["members:read"])
    member = factories.make_member(session, org)
    session.commit()
    assert api.as_(reader).get(f"/members/{member.id}/events").status_code == 200
    setup_type(api, name="x-y-z")
    before = written(session)
    refused(api.as_(reader).post("/events", json={"systemUniqueKey": "r-1", "memberId": member.id,
                                                  "eventType": "x-y-z"}), 403, "forbidden", "role")
    refused(api.as_(reader).post("/event-types", json={"name": "by-a-reader"}), 403, "forbidden", "role")
    assert written(session) == before
