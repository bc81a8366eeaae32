"""Missions in the console: list with completions, create and edit with errors on their fields (a bad
matcher at line and column), the live matcher check, switching on and off, CSRF, roles and isolation."""
from __future__ import annotations

from sqlalchemy import select

from portal.domain import custom_events, missions
from portal.domain.missions import Mission
from tests import factories

from .console_helpers import ENGAGEMENT_REFUSALS, ConsoleForm
from .page import field_error, page

PURCHASE = "member-purchase-order-confirmed"


FORM = ConsoleForm("/console/missions/new", name="Coffee lover", code="COFFEE", description="Ten coffees, one free",
                   kind="stampcard", event_type=PURCHASE, matcher="order.total >= 3", goal_count="10",
                   points_on_completion="250", ledger_account_id="", max_repetitions="", repetition_period="month",
                   period_limit="2", active="y", valid_from="", valid_to="", tags="coffee, stamps")


def mission_named(session, code: str) -> Mission | None:
    return factories.first(session, Mission, Mission.code == code)


def test_create_a_stamp_card_and_see_it_listed_and_on_its_page(console, signed_in, session, org):
    response = FORM.submit(console)
    assert response.status_code == 302
    mission = mission_named(session, "COFFEE")
    assert (mission.organization_id, mission.kind, mission.goal_count) == (org.id, "stampcard", 10)
    assert mission.matcher == "order.total >= 3" and mission.matcher_ast["op"] == ">="
    assert (mission.repetition_period, mission.period_limit, mission.max_repetitions) == ("month", 2, None)
    assert mission.points_on_completion == 250 and mission.tags == ["coffee", "stamps"] and mission.active
    assert response.headers["Location"].endswith(f"/console/missions/{mission.id}")

    listed = page(console.get("/console/missions"))
    [row] = listed.all(f'tr[data-mission-id="{mission.id}"]')
    cells = " ".join(row.itertext())
    assert "Coffee lover" in cells and "Stamp card" in cells and PURCHASE in cells
    assert "2× per month" in cells and "250" in cells and "Active" in cells

    detail = page(console.get(f"/console/missions/{mission.id}"))
    assert detail.text("h1") == "Coffee lover"
    assert "order.total >= 3" in detail.text(".facts") and "10 events" in detail.text(".facts")
    assert detail.text("#count-completions") == "0"


def test_code_is_generated_when_left_empty(console, signed_in, session):
    assert FORM.submit(console, code="", name="Generated").status_code == 302
    mission = session.scalars(select(Mission).where(Mission.name == "Generated")).one()
    assert mission.code.startswith("M-")


def test_bad_matcher_shows_line_and_column_on_the_field(console, signed_in, session):
    response = FORM.submit_refused(console, "matcher", "line 2, column 16",
                                   matcher="order.total >= 20 and\r\n  order.items[0")
    pointer = page(response).text(".rule-pointer")
    assert pointer.startswith("2 | order.items[0") and pointer.endswith("^")
    # The caret sits under column 16 of the offending line.
    caret_line = page(response).one(".rule-pointer").text.splitlines()[1]
    assert caret_line.index("^") - caret_line.index("|") - 2 == 15
    assert mission_named(session, "COFFEE") is None


test_errors_land_on_their_fields = FORM.refusals_test([
    ({"name": ""}, "name", "This field is required"),
    ({"goal_count": "0"}, "goal_count", "between 1 and 10000"),
    ({"goal_count": "ten"}, "goal_count", "Not a valid integer"),
    ({"points_on_completion": "-5"}, "points_on_completion", "between 0 and"),
    ({"repetition_period": "none", "period_limit": "1"}, "period_limit", "needs a repetitionPeriod"),
    ({"kind": "badge"}, "kind", "Not a valid choice"),
    *ENGAGEMENT_REFUSALS,
], created=lambda session: mission_named(session, "COFFEE"))


def test_duplicate_code_is_refused_on_the_code_field(console, signed_in):
    FORM.submit(console)
    again = FORM.submit(console, name="Another")
    assert again.status_code == 422 and "already exists" in field_error(again, "code")


def test_custom_event_types_are_offered_and_inactive_ones_refused(console, signed_in, session, org):
    custom_events.create_event_type(session, org.id, name="store-visit", actor=org.actor)
    custom_events.create_event_type(session, org.id, name="old-thing", actor=org.actor, active=False)
    session.commit()
    options = [o.get("value") for o in page(console.get("/console/missions/new")).all("#event_type option")]
    assert "store-visit" in options and PURCHASE in options and "old-thing" not in options
    assert FORM.submit(console, event_type="store-visit", matcher="").status_code == 302
    refused = FORM.submit(console, code="OLD", event_type="old-thing")
    assert refused.status_code == 422 and "inactive" in field_error(refused, "event_type")


def test_edit_changes_the_mission_and_keeps_the_code(console, signed_in, session):
    FORM.submit(console)
    mission = mission_named(session, "COFFEE")
    form = page(console.get(f"/console/missions/{mission.id}/edit"))
    assert form.one("#name").get("value") == "Coffee lover"
    assert form.one("#matcher").text.strip() == "order.total >= 3"
    assert form.one("#goal_count").get("value") == "10"

    response = console.post(f"/console/missions/{mission.id}/edit",
                            FORM.data(code="", goal_count="8", matcher="order.total >= 5", name="Coffee fan"))
    assert response.status_code == 302
    session.refresh(mission)
    assert (mission.code, mission.goal_count, mission.matcher, mission.name) == ("COFFEE", 8, "order.total >= 5",
                                                                                "Coffee fan")

    bad = console.post(f"/console/missions/{mission.id}/edit", FORM.data(matcher="order.total >"))
    assert bad.status_code == 422 and "line 1, column 14" in field_error(bad, "matcher")
    session.refresh(mission)
    assert mission.matcher == "order.total >= 5"


def test_an_unchanged_event_type_switched_off_since_does_not_block_other_edits(console, signed_in, session, org):
    custom_events.create_event_type(session, org.id, name="store-visit", actor=org.actor)
    mission = missions.create_mission(session, org.id, actor=org.actor, name="Visits", event_type="store-visit",
                                      goal_count=3, code="VISITS")
    custom_events.update_event_type(session, custom_events.get_event_type(session, org.id, "store-visit"),
                                     actor=org.actor, active=False)
    session.commit()
    edit = page(console.get(f"/console/missions/{mission.id}/edit"))
    assert "store-visit (inactive or unknown)" in edit.text("#event_type")
    response = console.post(f"/console/missions/{mission.id}/edit",
                            FORM.data(name="Store visits", code="VISITS", kind="mission", event_type="store-visit",
                                      matcher="", goal_count="3", repetition_period="none", period_limit="",
                                      points_on_completion="0", tags=""))
    assert response.status_code == 302
    session.refresh(mission)
    assert mission.name == "Store visits"


def test_deactivate_and_activate(console, signed_in, session):
    FORM.submit(console)
    mission = mission_named(session, "COFFEE")
    url = f"/console/missions/{mission.id}/active"
    assert console.post(url, {"active": "off"}).status_code == 302
    session.refresh(mission)
    assert mission.active is False
    listed = page(console.get("/console/missions"))
    assert "Inactive" in listed.text(f'tr[data-mission-id="{mission.id}"]')
    detail = page(console.get(f"/console/missions/{mission.id}"))
    assert detail.text(".button-row button") == "Activate"
    assert console.post(url, {"active": "on"}).status_code == 302
    session.refresh(mission)
    assert mission.active is True
    assert console.post(url, {"active": "maybe"}).status_code == 400


def test_list_counts_completions(console, signed_in, session, org):
    mission = missions.create_mission(session, org.id, actor=org.actor, name="Two visits", event_type=PURCHASE,
                                      goal_count=2, code="TWO")
    ann, bob = factories.make_member(session, org), factories.make_member(session, org)
    missions.increment(session, ann, mission, 4, actor=org.actor)  # two completions
    missions.increment(session, bob, mission, 1, actor=org.actor)  # on the way
    session.commit()
    row = page(console.get("/console/missions")).one(f'tr[data-mission-id="{mission.id}"] [data-count=completions]')
    assert " ".join(row.itertext()).split() == ["2", "1", "member"]
    detail = page(console.get(f"/console/missions/{mission.id}"))
    assert (detail.text("#count-completions"), detail.text("#count-completed-by"),
            detail.text("#count-in-progress")) == ("2", "1", "1")


def test_list_pages_through_htmx_from_its_own_url(console, signed_in, session, org):
    for n in range(21):
        missions.create_mission(session, org.id, actor=org.actor, name=f"Mission {n:02d}", event_type=PURCHASE,
                                goal_count=1, code=f"M{n:02d}")
    session.commit()
    full = console.get("/console/missions")
    assert len(page(full).all("#missions-table tbody tr")) == 20 and "Page 1 of 2" in page(full).text(".pager")
    fragment = console.get("/console/missions?page=2", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and "Mission 00" in html and "Mission 20" not in html
    assert "HX-Request" in fragment.headers["Vary"]


def test_live_matcher_check(console, signed_in):
    bad = console.post("/console/missions/matcher/check", {"matcher": "order.total >"},
                       headers={"HX-Request": "true"})
    html = bad.get_data(as_text=True)
    assert "line 1, column 14" in html and "^" in html and "<html" not in html
    good = console.post("/console/missions/matcher/check", {"matcher": "order.total >= 3"},
                        headers={"HX-Request": "true"})
    assert "The matcher is valid" in good.get_data(as_text=True)


def test_csrf_is_required(console, signed_in, session, org):
    refused = console.client.post("/console/missions/new", data=FORM.data())
    assert refused.status_code == 400 and mission_named(session, "COFFEE") is None
    mission = missions.create_mission(session, org.id, actor=org.actor, name="M", event_type=PURCHASE,
                                      goal_count=1, code="M")
    session.commit()
    assert console.client.post(f"/console/missions/{mission.id}/active", data={"active": "off"}).status_code == 400
    session.refresh(mission)
    assert mission.active is True


def test_roles(console, sign_in_as, session, org):
    mission = missions.create_mission(session, org.id, actor=org.actor, name="M", event_type=PURCHASE,
                                      goal_count=1, code="M")
    session.commit()
    sign_in_as(["members:read"])
    assert console.get("/console/missions").status_code == 403
    assert "Missions" not in page(console.get("/console/")).text(".sidenav")
    sign_in_as(["campaigns:read"])
    assert "Missions" in page(console.get("/console/")).text(".sidenav")
    detail = console.get(f"/console/missions/{mission.id}")
    assert detail.status_code == 200 and not page(detail).has(".button-row")
    assert not page(console.get("/console/missions")).has('a[href="/console/missions/new"]')
    assert console.get("/console/missions/new").status_code == 403
    assert FORM.submit(console).status_code == 403
    assert console.get(f"/console/missions/{mission.id}/edit").status_code == 403
    assert console.post(f"/console/missions/{mission.id}/active", {"active": "off"}).status_code == 403
    session.refresh(mission)
    assert mission.active is True and mission_named(session, "COFFEE") is None


def test_another_organisations_mission_is_not_found(console, signed_in, session, other_org):
    foreign = missions.create_mission(session, other_org.id, actor=other_org.actor, name="Foreign",
                                      event_type=PURCHASE, goal_count=1, code="FOREIGN")
    session.commit()
    assert console.get(f"/console/missions/{foreign.id}").status_code == 404
    assert console.get(f"/console/missions/{foreign.id}/edit").status_code == 404
    assert console.post(f"/console/missions/{foreign.id}/edit", FORM.data()).status_code == 404
    assert console.post(f"/console/missions/{foreign.id}/active", {"active": "off"}).status_code == 404
    assert console.get(f"/console/missions/{2 ** 63}").status_code == 404
    session.refresh(foreign)
    assert foreign.active is True and foreign.name == "Foreign"
    assert "Foreign" not in console.get("/console/missions").get_data(as_text=True)
