"""A purchase's answers are built as dicts (api/orders.py: `_order_json`, `_evaluation_json`); each must be exactly
what the documented models (`OrderOut`, `EvaluationOut` and their envelopes) make of it, unchanged, for every kind
of order and result, in the purchase's, the order's, the list's and the simulation's answers."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from portal.api import orders as api_orders
from portal.api.schemas import orders as s
from portal.domain import campaigns, orders
from tests import factories
from tests.domain.test_earning import base_campaign, order


def unchanged(model, body: dict) -> dict:
    assert model.model_validate(body).dump() == body
    return body


def assert_same_answer(session, result: orders.OrderResult) -> None:
    placed = result.order
    debt = orders.open_debts_by_order(session, [placed]).get(placed.id, 0)
    answer = unchanged(s.OrderOut, api_orders._order_json(placed, debt))
    assert (answer["id"], answer["status"], answer["pointsAwarded"], answer["pointsEarned"], answer["openDebt"],
            answer["pointsGivenBack"], answer["reservationId"], [i["sku"] for i in answer["items"]]) == (
        placed.id, placed.status, placed.points_awarded, placed.points_earned, debt, placed.points_refunded,
        placed.hold_id, [i.sku for i in placed.items])
    args = (result.evaluation, result.points_taken_back, result.debt_recorded, result.points_given_back)
    evaluation = unchanged(s.EvaluationOut, api_orders._evaluation_json(*args))
    assert (evaluation["pointsAwarded"], evaluation["pointsTakenBack"], evaluation["debtRecorded"],
            evaluation["pointsGivenBack"], len(evaluation["effects"])) == (
        result.evaluation.points_awarded, *args[1:], len(result.evaluation.effects))


def test_the_dict_answers_are_the_models_dumps(session, org):
    base_campaign(session, org)
    factories.make_tiers(session, org)
    visit = campaigns.create_campaign(session, org.id, code="VISIT", name="Visit", actor=org.actor)
    campaigns.add_action(session, visit, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "fixed", "points": 7}])
    member = factories.make_member(session, org)
    factories.give_points(session, org, member, 100)
    items = [orders.ItemInput("LATTE", 2, Decimal("10.5"), "coffee"),
             orders.ItemInput("VOUCHER", 1, Decimal("-1.25"), None, is_discount=True)]
    later = dt.datetime.now(dt.timezone(dt.timedelta(hours=2))).replace(microsecond=0)
    posted = [("A-1", dict(items=items, discounted_total=Decimal("19.7"), external_event_date=later)),
              ("A-2", dict(total="600", status="created")),
              ("A-3", dict(total="12.00", points_redeemed=50, points_redeemed_value=Decimal("5"))),
              ("A-2", dict(total="600")),  # confirmed now
              ("A-1", dict(items=items, status="returned", discounted_total=Decimal("19.7"),
                           external_event_date=later)),
              ("A-3", dict(total="12.00", status="cancelled", points_redeemed=50,
                           points_redeemed_value=Decimal("5")))]
    results, statuses = [], []
    for external_id, fields in posted:
        result = orders.record_order(session, member, order(external_id, fields.pop("total", "19.75"), **fields),
                                     actor=org.actor)
        assert_same_answer(session, result)  # as answered then
        results.append(result)
        statuses.append(result.order.status)
    assert statuses == ["confirmed", "created", "confirmed", "confirmed", "returned", "cancelled"]
    assert any(e.details for r in results for e in r.evaluation.effects)  # tier points ids among the details
    session.flush()
    session.expire_all()  # as read back from the database
    for result in results:
        assert_same_answer(session, result)


def test_a_purchase_answers_as_documented(client, session, org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    token = factories.make_key(session, org, ["orders:write", "orders:read"])
    session.commit()
    response = client.post(f"/api/v1/organizations/{org.id}/members/{member.id}/purchase-orders",
                           headers={"Authorization": f"Bearer {token}"},
                           json={"externalId": "W-1", "status": "confirmed", "total": 25.5,
                                 "items": [{"sku": "BENCH-1", "quantity": 1, "unitPrice": 25.5}]})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    unchanged(s.OrderResultOut, body)
    assert body["order"]["total"] == "25.50" and body["evaluationResults"]["pointsAwarded"] == 25
    # The order, the member's list and a simulation answer as their models too, the order as it was answered.
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/organizations/{org.id}"
    got = client.get(f"{base}/purchase-orders/{body['order']['id']}", headers=headers).get_json()
    assert unchanged(s.OrderEnvelope, got) == {"order": body["order"]}
    listed = client.get(f"{base}/members/{member.id}/purchase-orders", headers=headers).get_json()
    assert unchanged(s.OrderPage, listed)["results"] == [body["order"]] and listed["totalCount"] == 1
    simulated = client.post(f"{base}/purchase-orders/simulate", headers=headers,
                            json={"memberId": member.id, "externalId": "W-2", "total": 10}).get_json()
    assert unchanged(s.SimulationOut, simulated)["evaluationResults"]["pointsAwarded"] == 10
