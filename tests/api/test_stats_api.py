"""GET /stats/{report}: the hand-worked figures of tests/report_data.py through the API, roles, isolation, bad input."""
from __future__ import annotations

import pytest

from portal.domain import reports
from portal.domain.staff import DEFAULT_ROLES
from tests import factories
from tests import report_data as data

from .conftest import problem

POINTS = ("minted", "burned", "expired", "outstanding")
RANGE = "sinceFrom=2026-03-26T23:00:00Z&sinceTo=2026-04-02T22:00:00Z"  # 27 March to 2 April, Berlin


@pytest.fixture
def world(session, org, other_org):
    return data.build(session, org, other_org)


def test_points_by_day_in_the_organisations_timezone(api, world):
    r = api.get(f"/stats/points?{RANGE}")
    assert r.status_code == 200, r.json
    body = r.json
    assert (body["report"], body["timezone"], body["interval"]) == ("points", "Europe/Berlin", "day")
    assert [c["key"] for c in body["columns"]] == ["minted", "burned", "expired", "outstanding"]
    assert [c["kind"] for c in body["columns"]] == ["sum", "sum", "sum", "level"]
    assert [p["period"] for p in body["results"]] == [d.isoformat() for d in data.DAYS]
    assert [tuple(p["values"][k] for k in POINTS) for p in body["results"]] == data.POINTS_BY_DAY
    assert body["totals"] == data.POINTS_TOTALS
    # 29 March starts at 23:00 UTC the day before, 30 March at 22:00 (summer time).
    assert (body["results"][2]["sinceFrom"], body["results"][3]["sinceFrom"]) == (
        "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z")
    assert body["previous"] is None and body["breakdowns"] == []


def test_points_by_week_and_month_with_the_previous_period(api, world):
    weekly = api.get(f"/stats/points?{RANGE}&interval=week").json
    assert {p["period"]: tuple(p["values"][k] for k in POINTS) for p in weekly["results"]} == data.POINTS_BY_WEEK
    monthly = api.get(f"/stats/points?{RANGE}&interval=month&compare=true").json
    assert {p["period"]: tuple(p["values"][k] for k in POINTS) for p in monthly["results"]} == data.POINTS_BY_MONTH
    assert monthly["previous"] == {"sinceFrom": "2026-03-19T23:00:00Z", "sinceTo": "2026-03-26T23:00:00Z",
                                   "totals": {"minted": 1000, "burned": 0, "expired": 0, "outstanding": 1007}}


@pytest.mark.parametrize("name, totals", [
    ("members", {"signups": 2, "members": 3}),
    ("coupon-books", {"assigned": 5, "used": 3}),
    ("discounts", {"used": 3, "amount": 10.0}),
    ("missions", {"completions": 3}),
    ("tiers", None),
    ("referrals", {"made": 2, "completed": 1}),
])
def test_every_report_against_the_hand_worked_totals(api, world, name, totals):
    r = api.get(f"/stats/{name}?{RANGE}")
    assert r.status_code == 200, r.json
    if name == "tiers":
        tiers = {c["label"]: r.json["totals"][c["key"]] for c in r.json["columns"]}
        assert tiers == {"Bronze": 0, "Silver": 1, "Gold": 1}
        keys = [c["key"] for c in r.json["columns"]]
        assert [tuple(p["values"][k] for k in keys) for p in r.json["results"]] == data.TIERS_BY_DAY
    else:
        assert r.json["totals"] == totals
    assert len(r.json["results"]) == 7


def test_breakdowns_carry_names_and_ids(api, world):
    books = api.get(f"/stats/coupon-books?{RANGE}").json["breakdowns"][0]
    assert {row["name"]: (row["assigned"], row["used"]) for row in books["rows"]} == data.PER_BOOK
    assert {row["couponBookId"] for row in books["rows"]} == {b.id for b in world.books.values()}
    discounts = api.get(f"/stats/discounts?{RANGE}").json["breakdowns"][0]["rows"]
    assert [(row["name"], row["used"], row["amount"]) for row in discounts] == [
        ("Five off", 2, 10.0), ("Ten percent", 1, None)]
    top = api.get(f"/stats/missions?{RANGE}").json["breakdowns"][1]
    assert top["key"] == "topMembers"
    assert [(row["memberId"], row["completions"]) for row in top["rows"]] == [(world.anna.id, 2), (world.ben.id, 1)]
    events = api.get(f"/stats/events?{RANGE}").json
    per_type = {row["eventType"]: row["count"] for row in events["breakdowns"][0]["rows"]}
    assert {t: per_type[t] for t in data.EVENT_COUNTS} == data.EVENT_COUNTS
    assert events["totals"]["events"] == sum(per_type.values())


def test_role_reports_read(api, session, org, world):
    for roles in (["members:read", "ledgers:read", "campaigns:read", "coupons:read"], ["users:write"]):
        token = factories.make_key(session, org, roles)
        problem(api.as_(token).get(f"/stats/points?{RANGE}"), 403, "role")
    marketing = factories.make_key(session, org, list(DEFAULT_ROLES["marketing"]))
    assert api.as_(marketing).get(f"/stats/points?{RANGE}").json["totals"] == data.POINTS_TOTALS
    problem(api.client.get(api.url(f"/stats/points?{RANGE}")), 401)


def test_another_organisation(api, world):
    # Their path with our key: 404; their key: only their figures.
    problem(api.get(f"/api/v1/organizations/{world.other.id}/stats/points?{RANGE}"), 404)
    theirs = api.as_(world.other.api_key).get(f"/api/v1/organizations/{world.other.id}/stats/points?{RANGE}")
    assert theirs.json["totals"] == {"minted": 10_000, "burned": 0, "expired": 0, "outstanding": 10_000}


@pytest.mark.parametrize("query, field", [
    ("sinceFrom=2026-04-02T00:00:00Z&sinceTo=2026-04-01T00:00:00Z", "sinceFrom"),
    ("sinceFrom=2020-01-01T00:00:00Z&sinceTo=2026-01-01T00:00:00Z", "interval"),
    ("sinceFrom=1900-01-01T00:00:00Z&interval=month", "sinceFrom"),
    ("interval=hour", "interval"),
    ("sinceFrom=2026-04-01", "sinceFrom"),
    ("sinceFrom=2026-04-01T00:00:00", "sinceFrom"),
    ("since=2026-04-01T00:00:00Z", "since"),
])
def test_bad_input_names_the_field(api, org, query, field):
    problem(api.get(f"/stats/points?{query}"), 422, field)


def test_defaults_to_the_last_30_days(api, org):
    body = api.get("/stats/members").json
    assert body["interval"] == "day" and body["timezone"] == "UTC"
    assert len(body["results"]) in (30, 31) and body["totals"] == {"signups": 0, "members": 0}


def test_the_documented_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for name in reports.REPORTS:
        operation = paths[f"/api/v1/organizations/{{organizationId}}/stats/{name}"]["get"]
        assert "reports:read" in operation["description"]
        assert {p["name"] for p in operation["parameters"]} >= {"sinceFrom", "sinceTo", "interval", "compare"}
