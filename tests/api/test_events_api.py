"""Event types, tracking with systemUniqueKey and the member event feed over the JSON API."""
from __future__ import annotations

from tests import factories


def setup_type(api, name="app-review-written", **fields):
    r = api.post("/event-types", json={"name": name, "description": "A store review", **fields})
    assert r.status_code == 201, r.json
    return r.json["eventType"]


def test_event_types_crud(api, session):
    session.commit()
    created = setup_type(api)
    assert (created["name"], created["active"], created["schemaType"]) == ("app-review-written", True, "custom")
    assert api.post("/event-types", json={"name": "app-review-written"}).status_code == 409
    bad = api.post("/event-types", json={"name": "Not A Slug"})
    assert bad.status_code == 422 and "name" in bad.json["errors"]
    builtin = api.post("/event-types", json={"name": "member-created"})
    assert builtin.status_code == 422 and "name" in builtin.json["errors"]
    r = api.patch("/event-types/app-review-written", json={"active": False})
    assert r.status_code == 200 and r.json["eventType"]["active"] is False
    listed = api.get("/event-types").json
    assert [t["name"] for t in listed["results"]] == ["app-review-written"]
    assert "member-purchase-order-confirmed" in listed["builtinEventTypes"]
    assert api.get("/event-types?active=true").json["totalCount"] == 0
    assert api.get("/event-types/nope-nope").status_code == 404


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
    assert api.post("/events", json={**body, "payload": {"stars": 1}}).status_code == 409
    assert api.get(f"/members/{member.id}/wallet").json["balances"][0]["balance"] == 15


def test_unknown_or_inactive_type_is_422_naming_event_type(api, session, org):
    member = factories.make_member(session, org)
    session.commit()
    body = {"systemUniqueKey": "x-1", "memberId": member.id, "eventType": "never-heard-of", "payload": {}}
    r = api.post("/events", json=body)
    assert r.status_code == 422 and "eventType" in r.json["errors"]
    setup_type(api, active=False, name="paused-type")
    r = api.post("/events", json={**body, "eventType": "paused-type"})
    assert r.status_code == 422 and "eventType" in r.json["errors"]
    r = api.post("/events", json={**body, "eventType": "member-purchase-order-confirmed"})
    assert r.status_code == 422 and "eventType" in r.json["errors"]
    # Nothing was stored under the key: a valid event may use it now.
    setup_type(api)
    assert api.post("/events", json={**body, "eventType": "app-review-written"}).status_code == 201


def test_track_validates_the_body(api, session, org):
    member = factories.make_member(session, org)
    session.commit()
    setup_type(api)
    base = {"systemUniqueKey": "v-1", "memberId": member.id, "eventType": "app-review-written"}
    for body, field in (({k: v for k, v in base.items() if k != "systemUniqueKey"}, "systemUniqueKey"),
                        ({**base, "payload": "text"}, "payload"),
                        ({**base, "payload": {"x": "y" * 20_000}}, "payload"),
                        ({**base, "externalEventDate": "2026-05-01T10:00:00"}, "externalEventDate"),
                        ({**base, "balance": 5}, "balance")):
        r = api.post("/events", json=body)
        assert r.status_code == 422 and field in r.json["errors"], (field, r.json)


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
    assert api.get(f"/members/{stranger.id}/events").status_code == 404
    r = api.post("/events", json={"systemUniqueKey": "s-1", "memberId": stranger.id,
                                  "eventType": "app-review-written"})
    assert r.status_code == 404
    other = api.as_(other_org.api_key)
    assert other.get("/event-types").status_code == 404  # the path names this organisation


def test_roles(api, session, org):
    reader = factories.make_key(session, org, ["members:read"])
    member = factories.make_member(session, org)
    session.commit()
    assert api.as_(reader).get(f"/members/{member.id}/events").status_code == 200
    assert api.as_(reader).post("/events", json={"systemUniqueKey": "r-1", "memberId": member.id,
                                                 "eventType": "x-y-z"}).status_code == 403
