"""Loyalty programmes, tiers, a member's tier by hand and its history."""
from __future__ import annotations

import datetime as dt

from .conftest import CommittingApi, problem, row_counts


def test_programmes(api, org):
    r = api.get("/loyalty-programs")
    assert r.status_code == 200 and r.json["totalCount"] == 1
    default = r.json["results"][0]
    assert (default["id"], default["isDefault"]) == (org.program.id, True)
    assert default["pointsAccountId"] == org.program.points_account_id
    r = api.post("/loyalty-programs", json={"name": "Kids club", "description": "for the young",
                                            "pointsExpireInMonths": 12})
    assert r.status_code == 201
    created = r.json["loyaltyProgram"]
    assert (created["name"], created["isDefault"]) == ("Kids club", False)
    assert len({created["ledgerId"], default["ledgerId"]}) == 2
    account = api.get(f"/ledgers/{created['ledgerId']}/accounts/{created['pointsAccountId']}").json["ledgerAccount"]
    assert account["expiresInMonths"] == 12
    r = api.patch(f"/loyalty-programs/{created['id']}", json={"name": "Kids' club"})
    assert r.status_code == 200 and r.json["loyaltyProgram"]["name"] == "Kids' club"
    assert r.json["loyaltyProgram"]["description"] == "for the young"
    assert api.get(f"/loyalty-programs/{created['id']}").json["loyaltyProgram"]["name"] == "Kids' club"
    assert api.get("/loyalty-programs").json["totalCount"] == 2
    problem(api.post("/loyalty-programs", json={"name": "  "}), 422, "name")
    problem(api.patch(f"/loyalty-programs/{created['id']}", json={"isDefault": True}), 422, "isDefault")


def test_tiers(api, org):
    base = f"/loyalty-programs/{org.program.id}/tiers"
    made = []
    for name, points in (("Gold", 1500), ("Bronze", 0), ("Silver", 500)):
        r = api.post(base, json={"name": name, "minPoints": points, "color": "#c90"})
        assert r.status_code == 201, r.json
        made.append(r.json["loyaltyTier"])
    r = api.get(base)
    assert [t["name"] for t in r.json["results"]] == ["Bronze", "Silver", "Gold"]
    assert r.json["totalCount"] == 3
    gold = made[0]
    r = api.patch(f"{base}/{gold['id']}", json={"minPoints": 2000, "description": "the best"})
    assert r.status_code == 200
    assert (r.json["loyaltyTier"]["minPoints"], r.json["loyaltyTier"]["description"]) == (2000, "the best")
    assert api.get(f"{base}/{gold['id']}").json["loyaltyTier"]["minPoints"] == 2000
    problem(api.post(base, json={"name": "Gold", "minPoints": 3000}), 409, "name")
    problem(api.post(base, json={"name": "Platinum", "minPoints": 500}), 409, "minPoints")
    problem(api.post(base, json={"name": "Platinum", "minPoints": -1}), 422, "minPoints")
    problem(api.patch(f"{base}/{gold['id']}", json={"name": "Silver"}), 409, "name")
    problem(api.get(f"{base}/999999"), 404, "loyaltyTierId")


def test_set_a_tier_by_hand_and_read_the_history(api, org, member, session):
    tiers = {}
    for name, points in (("Silver", 500), ("Gold", 1500)):
        tiers[name] = api.post(f"/loyalty-programs/{org.program.id}/tiers",
                               json={"name": name, "minPoints": points}).json["loyaltyTier"]["id"]
    url = f"/members/{member['id']}/loyalty-programs/{org.program.id}/tier"
    until = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).replace(microsecond=0)
    r = api.put(url, json={"loyaltyTierId": tiers["Gold"], "expiresAt": until.isoformat(), "reason": "VIP"})
    assert r.status_code == 200, r.json
    state = r.json["memberTier"]
    assert (state["memberId"], state["loyaltyTierId"], state["source"]) == (member["id"], tiers["Gold"], "manual")
    assert state["expiresAt"] == until.isoformat().replace("+00:00", "Z")
    [tier] = api.get(f"/members/{member['id']}").json["member"]["tiers"]
    assert (tier["name"], tier["source"]) == ("Gold", "manual")
    r = api.put(url, json={"loyaltyTierId": None, "reason": "trial over"})
    assert r.status_code == 200 and r.json["memberTier"]["loyaltyTierId"] is None
    # Tier points promote automatically afterwards.
    api.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint",
             json={"amount": 600, "ledgerAccountId": org.program.tier_points_account_id})
    r = api.get(f"{url}-history")
    assert r.status_code == 200
    rows = r.json["results"]
    assert [(h["fromTierId"], h["toTierId"], h["source"], h["reason"]) for h in rows] == [
        (None, tiers["Silver"], "auto", "tier points reached"),
        (tiers["Gold"], None, "manual", "trial over"),
        (None, tiers["Gold"], "manual", "VIP")]
    assert rows[2]["expiresAt"] == until.isoformat().replace("+00:00", "Z")


def test_set_tier_refusals(api, org, member, session, other_org):
    url = f"/members/{member['id']}/loyalty-programs/{org.program.id}/tier"
    tier = api.post(f"/loyalty-programs/{org.program.id}/tiers", json={"name": "Gold", "minPoints": 10}).json
    tier_id = tier["loyaltyTier"]["id"]
    other_program = api.post("/loyalty-programs", json={"name": "Other"}).json["loyaltyProgram"]
    before = row_counts(session)
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).isoformat()
    problem(api.put(url, json={"loyaltyTierId": tier_id, "expiresAt": past}), 422, "expiresAt")
    problem(api.put(url, json={"loyaltyTierId": tier_id, "expiresAt": "2030-01-01T00:00:00"}), 422, "expiresAt")
    problem(api.put(url, json={"loyaltyTierId": 999_999}), 404, "loyaltyTierId")
    problem(api.put(f"/members/{member['id']}/loyalty-programs/{other_program['id']}/tier",
                    json={"loyaltyTierId": tier_id}), 404, "loyaltyTierId")
    problem(api.put(f"/members/{member['id']}/loyalty-programs/{other_org.program.id}/tier",
                    json={"loyaltyTierId": tier_id}), 404, "loyaltyProgramId")
    problem(api.put(url, json={}), 422, "loyaltyTierId")
    assert row_counts(session) == before


def test_programmes_and_tiers_of_another_organisation_are_404(api, org, other_org, session):
    other_api = CommittingApi(api.client, other_org)
    foreign_tier = other_api.post(f"/loyalty-programs/{other_org.program.id}/tiers",
                                  json={"name": "Gold", "minPoints": 5}).json["loyaltyTier"]
    before = row_counts(session)
    problem(api.get(f"/loyalty-programs/{other_org.program.id}"), 404, "loyaltyProgramId")
    problem(api.patch(f"/loyalty-programs/{other_org.program.id}", json={"name": "Mine"}), 404, "loyaltyProgramId")
    problem(api.get(f"/loyalty-programs/{other_org.program.id}/tiers"), 404, "loyaltyProgramId")
    problem(api.post(f"/loyalty-programs/{other_org.program.id}/tiers", json={"name": "X", "minPoints": 1}), 404,
            "loyaltyProgramId")
    problem(api.get(f"/loyalty-programs/{org.program.id}/tiers/{foreign_tier['id']}"), 404, "loyaltyTierId")
    problem(api.patch(f"/loyalty-programs/{org.program.id}/tiers/{foreign_tier['id']}", json={"name": "Y"}), 404,
            "loyaltyTierId")
    assert row_counts(session) == before
