"""Missions over the JSON API: definitions, member progress, idempotent increments, isolation."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.domain.audit import AuditEntry
from tests import factories

from .conftest import problem

# Factories write through the test's session; commit them (a savepoint) so that a request's
# rollback on error keeps them, as it keeps rows an earlier request committed.

MISSION = {"name": "Coffee card", "kind": "stampcard", "eventType": "member-purchase-order-confirmed",
           "goalCount": 3, "pointsOnCompletion": 30, "maxRepetitions": 2}


def create(api, **fields):
    r = api.post("/missions", json={**MISSION, **fields})
    assert r.status_code == 201, r.json
    return r.json["mission"]


def test_create_get_list_and_patch(api, session):
    mission = create(api, code="COFFEE", matcher='order.total >= 5', repetitionPeriod="month", periodLimit=1)
    assert (mission["code"], mission["kind"], mission["matcher"], mission["goalCount"], mission["periodLimit"]) == (
        "COFFEE", "stampcard", "order.total >= 5", 3, 1)
    r = api.get(f"/missions/{mission['id']}")
    assert r.json["mission"]["name"] == "Coffee card"
    r = api.patch(f"/missions/{mission['id']}", json={"goalCount": 5, "matcher": None, "active": False})
    assert r.status_code == 200, r.json
    assert (r.json["mission"]["goalCount"], r.json["mission"]["matcher"], r.json["mission"]["active"]) == (
        5, None, False)
    create(api, code="OTHER")
    r = api.get("/missions?active=false")
    assert [m["code"] for m in r.json["results"]] == ["COFFEE"]
    r = api.get("/missions?order=id,asc")
    assert r.json["totalCount"] == 2 and [m["code"] for m in r.json["results"]] == ["COFFEE", "OTHER"]
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == str(mission["id"]),
                                                              AuditEntry.target_type == "mission")).all()
    assert actions == ["mission.created", "mission.updated"]


def test_bad_matcher_is_a_422_naming_line_and_column(api, session):
    session.commit()
    r = api.post("/missions", json={**MISSION, "matcher": "order.total >= "})
    assert r.status_code == 422
    assert "matcher" in r.json["errors"]
    assert "line 1, column" in r.json["errors"]["matcher"][0]


@pytest.mark.parametrize("matcher", ["not " * 999 + "true", "-" * 3000 + "1", "(" * 100 + "1" + ")" * 100,
                                     "event.x" + " or event.x" * 300],
                         ids=["nots", "minuses", "brackets", "ors"])
def test_too_deep_matcher_is_a_422_naming_matcher_not_a_500(api, session, matcher):
    session.commit()
    body = problem(api.post("/missions", json={**MISSION, "matcher": matcher}), 422, "matcher")
    assert "nested too deeply" in body["errors"]["matcher"][0]
    assert api.get("/missions").json["totalCount"] == 0


def test_invalid_fields_are_422s_naming_the_field(api, session):
    session.commit()
    for body, field in (({**MISSION, "goalCount": 0}, "goalCount"),
                        ({**MISSION, "repetitionPeriod": "year"}, "repetitionPeriod"),
                        ({**MISSION, "eventType": "nope-nope"}, "eventType"),
                        ({**MISSION, "periodLimit": 2}, "periodLimit"),
                        ({**MISSION, "organizationId": 9}, "organizationId")):
        r = api.post("/missions", json=body)
        assert r.status_code == 422, (body, r.json)
        assert field in r.json["errors"], r.json


def test_increment_completes_mints_and_replays(api, session, org):
    member = factories.make_member(session, org)
    session.commit()
    mission = create(api)
    url = f"/members/{member.id}/missions/{mission['id']}/increment"
    r = api.post(url, json={"amount": 2, "systemUniqueKey": "inc-1"})
    assert r.status_code == 200, r.json
    assert r.json["progress"]["counter"] == 2 and r.json["progress"]["remaining"] == 1
    r = api.post(url, json={"amount": 1, "systemUniqueKey": "inc-2"})
    completed = [e for e in r.json["effects"] if e["type"] == "mission_completed"]
    assert completed and completed[0]["points"] == 30
    assert r.json["progress"]["completions"] == 1 and r.json["progress"]["counter"] == 0
    replay = api.post(url, json={"amount": 1, "systemUniqueKey": "inc-2"})
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json["effects"] == r.json["effects"]
    assert api.post(url, json={"amount": 3, "systemUniqueKey": "inc-2"}).status_code == 409
    wallet = api.get(f"/members/{member.id}/wallet").json
    assert wallet["balances"][0]["balance"] == 30


def test_increment_amount_is_validated(api, session, org):
    member = factories.make_member(session, org)
    session.commit()
    mission = create(api)
    url = f"/members/{member.id}/missions/{mission['id']}/increment"
    for amount in (0, -1, 1.5, "2"):
        r = api.post(url, json={"amount": amount})
        assert r.status_code == 422 and "amount" in r.json["errors"], amount


def test_member_missions_shows_progress(api, session, org):
    member = factories.make_member(session, org)
    first, second = create(api, code="A"), create(api, code="B", goalCount=1, maxRepetitions=1)
    api.post(f"/members/{member.id}/missions/{first['id']}/increment", json={"amount": 1})
    api.post(f"/members/{member.id}/missions/{second['id']}/increment", json={"amount": 1})
    r = api.get(f"/members/{member.id}/missions")
    assert r.status_code == 200
    rows = {row["mission"]["code"]: row for row in r.json["results"]}
    assert (rows["A"]["counter"], rows["A"]["available"]) == (1, True)
    assert (rows["B"]["completions"], rows["B"]["available"], rows["B"]["remaining"]) == (1, False, 0)


def test_another_organisations_mission_or_member_is_404(api, session, org, other_org):
    member = factories.make_member(session, org)
    stranger = factories.make_member(session, other_org)
    session.commit()
    mission = create(api)
    other = api.as_(other_org.api_key)
    other.org = other_org
    assert other.get(f"/missions/{mission['id']}").status_code == 404
    assert other.patch(f"/missions/{mission['id']}", json={"name": "Mine"}).status_code == 404
    assert other.post(f"/members/{stranger.id}/missions/{mission['id']}/increment",
                      json={"amount": 1}).status_code == 404
    assert api.post(f"/members/{stranger.id}/missions/{mission['id']}/increment",
                    json={"amount": 1}).status_code == 404
    assert api.get(f"/members/{stranger.id}/missions").status_code == 404
    # The organisation's own path with the other token is refused too.
    assert api.as_(other_org.api_key).get(f"/members/{member.id}/missions").status_code == 404


def test_roles(api, session, org):
    reader = factories.make_key(session, org, ["campaigns:read"])
    session.commit()
    assert api.as_(reader).get("/missions").status_code == 200
    assert api.as_(reader).post("/missions", json=MISSION).status_code == 403
