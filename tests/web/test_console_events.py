"""Event types in the console (list, create with errors on their fields, switching on and off, CSRF,
roles, isolation) and the member page's missions progress and latest events."""
from __future__ import annotations

import pytest

from portal.domain import custom_events, missions
from portal.domain.custom_events import EventType
from tests import factories

from .page import field_error, page, text_of

PURCHASE = "member-purchase-order-confirmed"


def type_named(session, org, name: str) -> EventType | None:
    return factories.first(session, EventType, EventType.organization_id == org.id,
                                                   EventType.name == name)


def test_create_an_event_type_and_see_it_listed(console, signed_in, session, org):
    empty = page(console.get("/console/event-types"))
    assert "No custom event types yet" in empty.text("#event-type-rows")
    assert PURCHASE in empty.text("#builtin-types") and "member-generic-event" in empty.text("#builtin-types")

    response = console.post("/console/event-types", {"name": "app-review-written",
                                                     "description": "A review in the app store"})
    assert response.status_code == 302
    created = type_named(session, org, "app-review-written")
    assert created.active and created.description == "A review in the app store"
    row = page(console.get("/console/event-types")).text('tr[data-event-type="app-review-written"]')
    assert "A review in the app store" in row and "Active" in row and "Deactivate" in row


@pytest.mark.parametrize("name, message", [
    ("", "This field is required"),
    ("ab", "between 3 and 100"),
    ("App Review", "lower-case letters, digits or hyphens"),
    (PURCHASE, "is a built-in event type"),
])
def test_errors_land_on_the_name_field(console, signed_in, session, org, name, message):
    response = console.post("/console/event-types", {"name": name})
    assert response.status_code == 422
    assert message in field_error(response, "name")
    assert factories.first(session, EventType, EventType.organization_id == org.id) is None


def test_a_name_is_taken_once_per_organisation(console, signed_in, session, org, other_org):
    custom_events.create_event_type(session, other_org.id, name="store-visit", actor=other_org.actor)
    session.commit()
    assert console.post("/console/event-types", {"name": "store-visit"}).status_code == 302
    again = console.post("/console/event-types", {"name": "store-visit"})
    assert again.status_code == 422 and "already exists" in field_error(again, "name")


def test_deactivate_and_activate(console, signed_in, session, org, other_org):
    mine = custom_events.create_event_type(session, org.id, name="store-visit", actor=org.actor)
    theirs = custom_events.create_event_type(session, other_org.id, name="store-visit", actor=other_org.actor)
    session.commit()
    assert console.post("/console/event-types/store-visit/active", {"active": "off"}).status_code == 302
    session.refresh(mine)
    session.refresh(theirs)
    assert mine.active is False and theirs.active is True
    row = page(console.get("/console/event-types")).text('tr[data-event-type="store-visit"]')
    assert "Inactive" in row and "Activate" in row
    assert not custom_events.is_known(session, org.id, "store-visit")
    assert console.post("/console/event-types/store-visit/active", {"active": "on"}).status_code == 302
    session.refresh(mine)
    assert mine.active is True
    assert console.post("/console/event-types/store-visit/active", {"active": ""}).status_code == 400


def test_another_organisations_event_type_is_not_found(console, signed_in, session, other_org):
    theirs = custom_events.create_event_type(session, other_org.id, name="their-event", actor=other_org.actor)
    session.commit()
    assert console.post("/console/event-types/their-event/active", {"active": "off"}).status_code == 404
    session.refresh(theirs)
    assert theirs.active is True
    assert "their-event" not in console.get("/console/event-types").get_data(as_text=True)


def test_csrf_is_required(console, signed_in, session, org):
    assert console.client.post("/console/event-types", data={"name": "store-visit"}).status_code == 400
    assert type_named(session, org, "store-visit") is None


def test_roles(console, sign_in_as, session, org):
    custom_events.create_event_type(session, org.id, name="store-visit", actor=org.actor)
    session.commit()
    sign_in_as(["members:read"])
    assert console.get("/console/event-types").status_code == 403
    sign_in_as(["campaigns:read"])
    listed = page(console.get("/console/event-types"))
    assert "store-visit" in listed.text("#event-types-table")
    assert not listed.has("#event-type-form") and not listed.has("#event-types-table form")
    assert "Event types" in listed.text(".sidenav")
    assert console.post("/console/event-types", {"name": "new-event"}).status_code == 403
    assert console.post("/console/event-types/store-visit/active", {"active": "off"}).status_code == 403
    assert type_named(session, org, "new-event") is None and type_named(session, org, "store-visit").active


# --- the member page -------------------------------------------------------------------------

def test_member_page_shows_mission_progress_and_latest_events(console, signed_in, session, org):
    custom_events.create_event_type(session, org.id, name="store-visit", actor=org.actor)
    visits = missions.create_mission(session, org.id, actor=org.actor, name="Five visits", kind="stampcard",
                                     event_type="store-visit", goal_count=5, code="VISITS")
    double = missions.create_mission(session, org.id, actor=org.actor, name="Two purchases", event_type=PURCHASE,
                                     goal_count=2, code="TWO", max_repetitions=1, points_on_completion=30)
    retired = missions.create_mission(session, org.id, actor=org.actor, name="Retired", event_type=PURCHASE,
                                      goal_count=2, code="OLD", active=False)
    ann = factories.make_member(session, org, givenName="Ann", familyName="Member")
    other = factories.make_member(session, org)
    for n in range(3):
        custom_events.track_event(session, ann, "store-visit", {"store": "BER"}, actor=org.actor,
                                   system_unique_key=f"visit-{n}")
    missions.increment(session, ann, double, 2, actor=org.actor)  # completes it, 30 points
    custom_events.track_event(session, other, "store-visit", actor=org.actor, system_unique_key="other-visit")
    session.commit()

    detail = page(console.get(f"/console/members/{ann.id}"))
    rows = {r.get("data-mission-id"): r for r in detail.all("#member-missions-table tbody tr")}
    assert set(rows) == {str(visits.id), str(double.id), str(retired.id)}
    stamp_row = text_of(rows[str(visits.id)])
    assert "Five visits" in stamp_row and "Stamp card" in stamp_row and "3 of 5" in stamp_row
    assert "●●●○○" in stamp_row
    double_row = text_of(rows[str(double.id)])
    assert "All completions done" in double_row and "1 of 1" in double_row
    assert "Inactive" in text_of(rows[str(retired.id)])
    assert detail.has(f'#member-missions-table a[href="/console/missions/{visits.id}"]')

    events = detail.texts("#member-events tbody tr")
    assert len(events) == 6  # joined, three visits, the completion and its points
    assert {events[0].split(" UTC ")[1], events[1].split(" UTC ")[1]} == {
        "Mission completed: Two purchases mission-status-updated", "Points +30 ledger-transaction-created"}
    assert sum("store-visit" in e for e in events) == 3
    assert "Joined the programme" in events[-1]
    # The fragment for history paging does not carry the section (it is part of the full page only).
    fragment = console.get(f"/console/members/{ann.id}?page=1", headers={"HX-Request": "true"})
    assert "member-engagement" not in fragment.get_data(as_text=True)


def test_member_feed_shows_the_latest_twenty_newest_first(console, signed_in, session, org):
    custom_events.create_event_type(session, org.id, name="store-visit", actor=org.actor)
    ann = factories.make_member(session, org)
    for n in range(25):
        custom_events.track_event(session, ann, "store-visit", actor=org.actor, system_unique_key=f"v-{n}",
                                   description=f"visit {n}")
    session.commit()
    detail = page(console.get(f"/console/members/{ann.id}"))
    shown = [int(row.get("data-event-id")) for row in detail.all("#member-events tbody tr")]
    every = [e.id for e in session.scalars(custom_events.feed_query(org.id, ann.id))]
    assert len(every) == 26 and shown == sorted(every, reverse=True)[:20]
    assert "The latest 20" in detail.text("#member-engagement")
    assert "Your organisation has no missions" in detail.text("#member-engagement")


def test_member_page_without_campaign_roles_shows_missions_without_links(console, sign_in_as, session, org):
    mission = missions.create_mission(session, org.id, actor=org.actor, name="Two purchases", event_type=PURCHASE,
                                      goal_count=2, code="TWO")
    ann = factories.make_member(session, org)
    missions.increment(session, ann, mission, 1, actor=org.actor)
    session.commit()
    sign_in_as(["members:read"])
    detail = page(console.get(f"/console/members/{ann.id}"))
    assert "Two purchases" in detail.text("#member-missions-table")
    assert "1 of 2" in detail.text("#member-missions-table")
    assert not detail.has("#member-missions-table a")
    assert "Joined the programme" in detail.text("#member-events")
