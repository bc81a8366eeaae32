"""Orders, simulation, import, campaigns, actions, rules and audiences through the API."""
from __future__ import annotations

from portal.domain.campaigns import Campaign
from portal.domain.ledger import LedgerTransaction
from portal.domain.orders import PurchaseOrder
from tests import factories
from tests.factories import count

from .conftest import problem


def make_campaign(api, **extra):
    r = api.post("/campaigns", json={"code": "EARN", "name": "Earn", **extra})
    assert r.status_code == 201, r.json
    campaign_id = r.json["campaign"]["id"]
    r = api.post(f"/campaigns/{campaign_id}/actions", json={
        "rules": ["order.total >= 10"],
        "effects": [{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"}]})
    assert r.status_code == 201, r.json
    return campaign_id


def new_member(api):
    return api.post("/members", json={"profile": {"givenName": "Olga"}}).json["member"]


def order_body(external_id="o-1", status="confirmed", total=25.5, **extra):
    return {"externalId": external_id, "status": status, "total": total, "locationCode": "BER-01",
            "items": [{"sku": "LATTE", "quantity": 1, "unitPrice": total, "productCategoryCode": "coffee"}], **extra}


def test_order_confirm_replay_and_return_by_card_code(api, session):
    make_campaign(api)
    member = new_member(api)
    card = member["identifiers"][0]["code"]
    r = api.post(f"/members/{card}/purchase-orders", json=order_body(), headers={"id-type": "CARDCODE"})
    assert r.status_code == 201, r.json
    assert r.json["evaluationResults"]["pointsAwarded"] == 25
    assert r.json["evaluationResults"]["effects"][0]["source"] == "campaign:EARN"
    replay = api.post(f"/members/{member['id']}/purchase-orders", json=order_body())
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json["order"]["pointsAwarded"] == 25
    r = api.post(f"/members/{member['id']}/purchase-orders", json=order_body(status="returned"))
    assert r.json["evaluationResults"]["pointsTakenBack"] == 25
    assert api.get(f"/members/{member['id']}/wallet").json["balances"][0]["balance"] == 0
    listed = api.get(f"/members/{member['id']}/purchase-orders").json
    assert listed["totalCount"] == 1 and listed["results"][0]["status"] == "returned"
    again = api.post(f"/members/{member['id']}/purchase-orders", json=order_body(status="partially-returned"))
    assert again.status_code == 409 and again.json["type"].endswith("/order-already-returned")
    assert again.json["errors"] == {"status": ["The order is returned; it cannot become partially-returned"]}


def test_simulate_returns_effects_and_writes_nothing(api, session):
    make_campaign(api)
    member = new_member(api)
    before = (count(session, PurchaseOrder), count(session, LedgerTransaction))
    r = api.post("/purchase-orders/simulate", json={**order_body(total=80), "memberId": member["id"]})
    assert r.status_code == 200, r.json
    assert r.json["evaluationResults"]["pointsAwarded"] == 80
    assert (count(session, PurchaseOrder), count(session, LedgerTransaction)) == before


def test_import_reports_each_row(api):
    make_campaign(api)
    member = new_member(api)
    r = api.post("/purchase-orders/import", json={"orders": [
        {**order_body("i-1"), "memberId": member["id"]},
        {**order_body("i-2"), "loyaltyMemberId": "nobody"},
        {**order_body("i-3", total=5), "memberId": member["id"]},
        {**order_body("i-1", status="shipped"), "memberId": member["id"]},
    ]})
    assert r.status_code == 422  # status "shipped" is refused by the schema before anything runs
    r = api.post("/purchase-orders/import", json={"orders": [
        {**order_body("i-1"), "memberId": member["id"]},
        {**order_body("i-2"), "loyaltyMemberId": "nobody"},
        {**order_body("i-3", total=5), "memberId": member["id"]},
    ]})
    assert r.status_code == 200, r.json
    results = r.json["results"]
    assert [x["status"] for x in results] == ["ok", "failed", "ok"]
    assert results[0]["pointsAwarded"] == 25 and results[2]["pointsAwarded"] == 0
    assert results[1]["error"]["status"] == 404


def test_bad_orders_are_422_naming_the_field(api):
    member = new_member(api)
    for body, field in [(order_body(total=-1), "total"), (order_body(total="twelve"), "total"),
                        ({**order_body(), "items": [{"sku": "x", "quantity": 0, "unitPrice": 1}]}, "items[0].quantity"),
                        ({**order_body(), "points": 100}, "points"),
                        (order_body(status="shipped"), "status")]:
        r = api.post(f"/members/{member['id']}/purchase-orders", json=body)
        assert r.status_code == 422, (body, r.json)
        assert field in r.json["errors"], r.json


def test_campaign_crud_and_validation(api, session, org):
    bronze, silver, gold = factories.make_tiers(session, org)
    campaign_id = make_campaign(api, daysOfWeek=["saturday"], locationCodes=["BER-01", "HAM-02"],
                                tierIds=[gold.id], monthlyPointsCap=500, timezone="Europe/Berlin")
    got = api.get(f"/campaigns/{campaign_id}").json["campaign"]
    assert got["daysOfWeek"] == ["saturday"] and got["tierIds"] == [gold.id] and len(got["actions"]) == 1
    r = api.patch(f"/campaigns/{campaign_id}", json={"active": False, "minSpend": 20})
    assert r.json["campaign"]["active"] is False
    assert float(r.json["campaign"]["minSpend"]) == 20
    # null clears what may be cleared, and is refused, naming the field, where a value is required.
    cleared = api.patch(f"/campaigns/{campaign_id}", json={"description": None, "monthlyPointsCap": None})
    assert cleared.status_code == 200 and cleared.json["campaign"]["description"] == ""
    assert cleared.json["campaign"]["monthlyPointsCap"] is None
    for field in ("name", "eventType", "active", "timezone"):
        refused = api.patch(f"/campaigns/{campaign_id}", json={field: None, "description": "kept?"})
        assert refused.status_code == 422 and field in refused.json["errors"], (field, refused.json)
    assert api.get(f"/campaigns/{campaign_id}").json["campaign"]["description"] == ""  # nothing half-written
    assert api.post("/campaigns", json={"code": "EARN", "name": "Dup"}).status_code == 409
    assert api.post("/campaigns", json={"code": "X", "name": "X", "timezone": "Mars/Olympus"}).status_code == 422
    assert api.post("/campaigns", json={"code": "Y", "name": "Y", "tierIds": [999999]}).status_code == 404
    bad_rule = api.post(f"/campaigns/{campaign_id}/actions", json={"rules": ["order.total >"], "effects": []})
    assert bad_rule.status_code == 422 and "rules[0]" in bad_rule.json["errors"]
    assert "column 14" in bad_rule.json["errors"]["rules[0]"][0]
    bad_effect = api.post(f"/campaigns/{campaign_id}/actions",
                          json={"rules": [], "effects": [{"type": "award_points", "mode": "fixed"}]})
    assert bad_effect.status_code == 422 and "effects[0].points" in bad_effect.json["errors"]
    action_id = got["actions"][0]["id"]
    r = api.patch(f"/campaigns/{campaign_id}/actions/{action_id}", json={"status": "disabled"})
    assert r.status_code == 200 and r.json["action"]["status"] == "disabled"


def test_rules_parse_and_print_round_trip(api):
    r = api.post("/rules/parse", json={"expressions": [
        'order.total >= 50 and order.location in ["BER-01", "HAM-02"]',
        'any(item.category == "coffee" for item in order.items)', "order.total >= 49.90", "member.tier =="]})
    assert r.status_code == 200
    results = r.json["results"]
    assert [x["valid"] for x in results] == [True, True, True, False]
    assert results[0]["node"]["type"] == "logical" and results[0]["node"]["start"] == {"line": 1, "column": 1}
    assert results[3]["error"]["line"] == 1 and results[3]["error"]["column"] == 15
    printed = api.post("/rules/to-expression", json={"nodes": [x["node"] for x in results[:3]]})
    assert printed.json["expressions"] == [x["expression"] for x in results[:3]]
    bad = api.post("/rules/to-expression", json={"nodes": [{"type": "call", "func": "eval", "args": []}]})
    assert bad.status_code == 422 and "nodes[0]" in bad.json["errors"]


def test_audiences_rule_and_list(api):
    berliner = api.post("/members", json={"profile": {"city": "Berlin"}}).json["member"]
    other = api.post("/members", json={"profile": {"city": "Bonn"}}).json["member"]
    r = api.post("/audiences", json={"name": "Berlin", "rule": 'member.city == "Berlin"'})
    assert r.status_code == 201 and r.json["audience"]["memberCount"] == 1
    r = api.post("/audiences", json={"name": "VIP", "kind": "list", "memberIds": [other["id"]]})
    assert r.status_code == 201 and r.json["audience"]["memberCount"] == 1
    assert [a["name"] for a in api.get(f"/members/{berliner['id']}/audiences").json["results"]] == ["Berlin"]
    assert [a["name"] for a in api.get(f"/members/{other['id']}/audiences").json["results"]] == ["VIP"]
    bad = problem(api.post("/audiences", json={"name": "Bad", "rule": "member.city =="}), 422, "rule")
    assert bad["errors"]["rule"] == ["Expected a value, found end of expression at line 1, column 15"]


def test_other_organisations_campaigns_and_orders_are_404(api, session, other_org):
    campaign_id = make_campaign(api)
    member = new_member(api)
    api.post(f"/members/{member['id']}/purchase-orders", json=order_body())
    outsider = api.as_(other_org.api_key)
    assert outsider.get(f"/api/v1/organizations/{other_org.id}/campaigns/{campaign_id}").status_code == 404
    assert outsider.post(f"/api/v1/organizations/{other_org.id}/members/{member['id']}/purchase-orders",
                         json=order_body("theirs")).status_code == 404
    assert count(session, PurchaseOrder) == 1
    assert api.get(f"/api/v1/organizations/{other_org.id}/campaigns").status_code == 404


def test_roles_are_checked(api, session, org):
    reader = factories.make_key(session, org, ["orders:read"])
    member = new_member(api)
    r = api.as_(reader).post(f"/members/{member['id']}/purchase-orders", json=order_body())
    assert r.status_code == 403
    assert api.as_(reader).post("/campaigns", json={"code": "Z", "name": "Z"}).status_code == 403
    assert (count(session, PurchaseOrder), count(session, Campaign)) == (0, 0)


def test_member_created_campaign_and_referral_code_through_the_api(api, session, org):
    from portal.domain import referrals

    r = api.post("/campaigns", json={"code": "WELCOME", "name": "Welcome", "eventType": "member-created"})
    api.post(f"/campaigns/{r.json['campaign']['id']}/actions", json={
        "effects": [{"type": "award_points", "mode": "fixed", "points": 100, "tierPoints": False}]})
    referrer = new_member(api)
    program = referrals.create_program(session, org.id, actor=org.actor, name="Friends")
    from portal.domain import members
    code = referrals.ensure_code(session, program, members.get_member(session, org.id, referrer["id"]),
                                 actor=org.actor)
    friend = api.post("/members", json={"profile": {"email": "friend@example.com"}, "referralCode": code.code})
    assert friend.status_code == 201, friend.json
    wallet = api.get(f"/members/{friend.json['member']['id']}/wallet").json
    assert wallet["balances"][0]["balance"] == 100
    bad = api.post("/members", json={"profile": {"email": "x@example.com"}, "referralCode": "NOSUCH"})
    assert bad.status_code == 422 and "referralCode" in bad.json["errors"]


def test_an_orders_system_unique_key_is_an_idempotency_key(api, session):
    """Two receipts sent with one key: the second is a 409 naming systemUniqueKey and earns nothing."""
    make_campaign(api)
    member = new_member(api)
    url = f"/members/{member['id']}/purchase-orders"
    first = api.post(url, json=order_body("receipt-1", total=30, systemUniqueKey="till-3-42"))
    assert first.status_code == 201, first.json
    assert first.json["evaluationResults"]["pointsAwarded"] == 30
    transactions = count(session, LedgerTransaction)

    for other in (order_body("receipt-2", total=30), order_body("receipt-1", total=31),
                  order_body("receipt-1", total=30, locationCode="HAM-02")):
        clash = api.post(url, json={**other, "systemUniqueKey": "till-3-42"})
        assert clash.status_code == 409, clash.json
        assert clash.headers["Content-Type"] == "application/problem+json"
        assert "systemUniqueKey" in clash.json["errors"]

    replay = api.post(url, json=order_body("receipt-1", total=30, systemUniqueKey="till-3-42"))
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json["evaluationResults"] == first.json["evaluationResults"]
    assert replay.json["order"]["id"] == first.json["order"]["id"]

    assert count(session, PurchaseOrder) == 1
    assert count(session, LedgerTransaction) == transactions
    assert api.get(f"/members/{member['id']}/wallet").json["balances"][0]["balance"] == 30


def test_a_purchase_older_than_the_late_window_is_a_422_naming_external_event_date(api, session):
    import datetime as dt

    make_campaign(api)
    member = new_member(api)
    url = f"/members/{member['id']}/purchase-orders"
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=31)).isoformat()
    recent = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).isoformat()
    r = api.post(url, json=order_body("late-1", externalEventDate=old, systemUniqueKey="late-1"))
    assert r.status_code == 422 and r.headers["Content-Type"] == "application/problem+json"
    assert list(r.json["errors"]) == ["externalEventDate"]
    assert count(session, PurchaseOrder) == 0 and count(session, LedgerTransaction) == 0
    r = api.post(url, json=order_body("late-1", externalEventDate=recent, systemUniqueKey="late-1"))
    assert r.status_code == 201 and r.json["order"]["pointsAwarded"] == 25


def test_an_import_reports_each_order_and_a_rerun_after_a_partial_failure_earns_once(api, session):
    import datetime as dt

    make_campaign(api)
    member = new_member(api)
    yesterday = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).isoformat()
    rows = [
        {**order_body("f-1", total=20), "memberId": member["id"], "systemUniqueKey": "till-5-f-1",
         "externalEventDate": yesterday},
        {**order_body("f-2", total=30), "loyaltyMemberId": "LATE-JOINER"},  # not a member yet: fails
        {**order_body("f-3", total=40), "memberId": member["id"]},
        {**order_body("f-1", total=21), "memberId": member["id"], "systemUniqueKey": "till-5-f-1"},  # key reused
    ]
    first = api.post("/purchase-orders/import", json={"orders": rows})
    assert first.status_code == 200, first.json
    results = first.json["results"]
    assert [(r["externalId"], r["status"], r.get("outcome"), r.get("pointsEarned")) for r in results] == [
        ("f-1", "ok", "applied", 20), ("f-2", "failed", None, None), ("f-3", "ok", "applied", 40),
        ("f-1", "failed", None, None)]
    assert results[1]["error"]["status"] == 404
    assert results[3]["error"]["status"] == 409 and "systemUniqueKey" in results[3]["error"]["errors"]
    assert results[0]["orderStatus"] == "confirmed" and results[0]["pointsAwarded"] == 20

    late_joiner = api.post("/members", json={"loyaltyMemberId": "LATE-JOINER", "profile": {"givenName": "Lu"}})
    assert late_joiner.status_code == 201, late_joiner.json
    again = api.post("/purchase-orders/import", json={"orders": rows})
    assert [(r["externalId"], r["status"], r.get("outcome"), r.get("pointsEarned")) for r in again.json["results"]] \
        == [("f-1", "ok", "replayed", 0), ("f-2", "ok", "applied", 30), ("f-3", "ok", "unchanged", 0),
            ("f-1", "failed", None, None)]
    assert api.get(f"/members/{member['id']}/wallet").json["balances"][0]["balance"] == 60
    joiner_id = late_joiner.json["member"]["id"]
    assert api.get(f"/members/{joiner_id}/wallet").json["balances"][0]["balance"] == 30
    assert count(session, PurchaseOrder) == 3
