"""At the till, through the API (on both databases): reserve points, confirm a basket paid partly with
them, return half; balances, debts and the member's wallet page match a table computed by hand."""
from __future__ import annotations

from decimal import Decimal

from portal.domain.holds import PointsHold
from portal.domain.ledger import LedgerTransaction
from portal.domain.orders import PointsDebt, PurchaseOrder
from tests.factories import count
from tests.web.member_helpers import logged_in, mail_sink, make_member, member, portal, smtp_sink  # noqa: F401

from .conftest import problem
from .test_earning_api import make_campaign


def wallet(api, member_id):
    """(balance, held) of the points account, and the tier points balance."""
    rows = api.get(f"/members/{member_id}/wallet").json["balances"]
    return rows[0]["balance"], rows[0]["held"], rows[1]["balance"]


def lines_under(doc, external_id):
    return [" ".join(li.itertext()).split() for li in doc.all(f'[data-order="{external_id}"] li')]


def test_reserve_confirm_partly_with_points_return_half_and_settle_the_debt(api, session, portal, logged_in):
    member = logged_in
    make_campaign(api)  # 1 point per euro paid in money, on orders of 10 or more
    lmid = member.loyalty_member_id
    assert api.post(f"/loyalty-members/{lmid}/mint", json={"amount": 500}).status_code == 201

    # The table, by hand:
    # step                                      | balance | held | tier | debt
    # minted                                    |   500   |   0  |   0  |   0
    # reserve 300                               |   500   | 300  |   0  |   0
    # confirm 400.00, 200 points worth 20.00    |   680   |   0  | 380  |   0   (-200 captured, 100 released;
    #                                           |         |      |      |        +380 earned on the 380.00 in money)
    # the member spends 670                     |    10   |   0  | 380  |   0
    # return half (200.00 of 400.00)            |     0   |   0  | 190  |  80   (+100 = half the 200 redeemed back;
    #                                           |         |      |      |        190 of the 380 earned taken back:
    #                                           |         |      |      |        110 burned, 80 owed)
    # next purchase 50.00                       |     0   |   0  | 240  |  30   (+50 earned, -50 settles the debt)
    r = api.post(f"/members/{member.id}/points-reservations",
                 json={"points": 300, "expiresInMinutes": 10, "externalId": "till-1", "systemUniqueKey": "res-1"})
    assert r.status_code == 201, r.json
    reservation = r.json["reservation"]
    assert reservation["status"] == "held" and reservation["points"] == 300
    assert wallet(api, member.id) == (500, 300, 0)
    again = api.post(f"/members/{member.id}/points-reservations",
                     json={"points": 300, "expiresInMinutes": 10, "externalId": "till-1", "systemUniqueKey": "res-1"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.json["reservation"]["id"] == reservation["id"]
    assert count(session, PointsHold) == 1 and wallet(api, member.id) == (500, 300, 0)

    basket = {"externalId": "till-1", "status": "confirmed", "total": 400, "locationCode": "BER-01",
              "items": [{"sku": "COAT", "quantity": 1, "unitPrice": 400}],
              "reservationId": reservation["id"], "pointsRedeemed": 200, "pointsRedeemedValue": 20}
    r = api.post(f"/members/{member.id}/purchase-orders", json=basket)
    assert r.status_code == 201, r.json
    assert r.json["evaluationResults"]["pointsAwarded"] == 380
    assert r.json["order"]["pointsRedeemed"] == 200 and r.json["order"]["reservationId"] == reservation["id"]
    assert wallet(api, member.id) == (680, 0, 380)
    held = api.get(f"/points-reservations/{reservation['id']}").json["reservation"]
    assert (held["status"], held["captured"]) == ("captured", 200)

    assert api.post(f"/loyalty-members/{lmid}/burn", json={"amount": 670}).status_code == 201
    assert wallet(api, member.id) == (10, 0, 380)

    r = api.post(f"/members/{member.id}/purchase-orders",
                 json={**basket, "status": "partially-returned", "returnedTotal": 200})
    assert r.status_code == 201, r.json
    result = r.json["evaluationResults"]
    assert (result["pointsGivenBack"], result["pointsTakenBack"], result["debtRecorded"]) == (100, 190, 80)
    assert r.json["order"]["openDebt"] == 80 and r.json["order"]["pointsGivenBack"] == 100
    assert wallet(api, member.id) == (0, 0, 190)

    r = api.post(f"/members/{member.id}/purchase-orders",
                 json={"externalId": "till-2", "status": "confirmed", "total": 50, "locationCode": "BER-01"})
    assert r.status_code == 201 and r.json["evaluationResults"]["pointsAwarded"] == 50
    assert wallet(api, member.id) == (0, 0, 240)
    debts = api.get(f"/members/{member.id}/points-debts").json
    assert debts["openDebt"] == 30
    assert [(d["amount"], d["settled"]) for d in debts["results"] if d["ledgerAccountId"] == api.org.program.points_account_id] == [(80, 50)]
    assert api.get(f"/purchase-orders/{r.json['order']['id']}").json["order"]["openDebt"] == 0

    doc = portal.page("/wallet")
    assert doc.text(".tile--main .tile__value") == "0"
    assert doc.text("[data-testid=open-debt]").startswith("30 owed from returns")
    assert lines_under(doc, "till-1") == [
        ["Paid", "with", "points:", "order", "till-1", "−200"],
        ["Earn", "+380"],
        ["Order", "till-1", "partially", "returned:", "points", "paid", "back", "+100"],
        ["Order", "till-1", "partially", "returned", "−110"],
        ["Debt", "from", "order", "till-1", "settled", "−50"],
    ]
    assert lines_under(doc, "till-2") == [["Earn", "+50"]]


def test_not_enough_points_is_a_409_naming_the_balance_and_nothing_is_earned_or_burned(api, session):
    make_campaign(api)
    member = api.post("/members", json={"profile": {"givenName": "Olga"}}).json["member"]
    assert api.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint", json={"amount": 120}).status_code == 201
    before = (count(session, PurchaseOrder), count(session, LedgerTransaction))
    r = api.post(f"/members/{member['id']}/purchase-orders",
                 json={"externalId": "o-1", "status": "confirmed", "total": 40, "pointsRedeemed": 300,
                       "pointsRedeemedValue": 3})
    body = problem(r, 409, "pointsRedeemed")
    assert body["type"].endswith("/points-exceed-balance") and "120 points available" in body["detail"]
    assert (count(session, PurchaseOrder), count(session, LedgerTransaction)) == before
    r = api.post(f"/members/{member['id']}/points-reservations", json={"points": 121})
    assert "120 points available" in problem(r, 409, "points")["detail"]
    assert count(session, PointsHold) == 0 and count(session, LedgerTransaction) == before[1]
    assert wallet(api, member["id"]) == (120, 0, 0)


def test_release_gives_the_points_back_once_and_a_released_reservation_cannot_pay(api, session):
    member = api.post("/members", json={"profile": {"givenName": "Olga"}}).json["member"]
    api.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint", json={"amount": 100})
    hold = api.post(f"/members/{member['id']}/points-reservations", json={"points": 60}).json["reservation"]
    assert wallet(api, member["id"]) == (100, 60, 0)
    for _ in range(2):
        r = api.post(f"/points-reservations/{hold['id']}/release")
        assert r.status_code == 200 and r.json["reservation"]["status"] == "released"
        assert wallet(api, member["id"]) == (100, 0, 0)
    r = api.post(f"/members/{member['id']}/purchase-orders",
                 json={"externalId": "o-1", "status": "confirmed", "total": 40, "reservationId": hold["id"],
                       "pointsRedeemedValue": 6})
    assert problem(r, 409, "reservationId")["type"].endswith("/hold-not-held")
    assert count(session, PurchaseOrder) == 0 and wallet(api, member["id"]) == (100, 0, 0)


def test_points_paid_need_their_money_value(api, session):
    member = api.post("/members", json={"profile": {"givenName": "Olga"}}).json["member"]
    r = api.post(f"/members/{member['id']}/purchase-orders",
                 json={"externalId": "o-1", "status": "confirmed", "total": 40, "pointsRedeemed": 10})
    problem(r, 422, "pointsRedeemedValue")
    r = api.post(f"/members/{member['id']}/purchase-orders",
                 json={"externalId": "o-1", "status": "confirmed", "total": 40, "pointsRedeemed": 10,
                       "pointsRedeemedValue": 41})
    problem(r, 422, "pointsRedeemedValue")
    assert count(session, PurchaseOrder) == 0 and count(session, PointsDebt) == 0


def test_the_programmes_point_value_converts_points_to_money_and_money_to_points(api, session):
    make_campaign(api)
    r = api.patch(f"/loyalty-programs/{api.org.program.id}", json={"pointValue": "0.05"})
    assert r.status_code == 200 and Decimal(r.json["loyaltyProgram"]["pointValue"]) == Decimal("0.05"), r.json
    member = api.post("/members", json={"profile": {"givenName": "Olga"}}).json["member"]
    api.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint", json={"amount": 300})
    # 100 points at 0.05 paid 5.00 of 30.00: 25 earn.
    r = api.post(f"/members/{member['id']}/purchase-orders",
                 json={"externalId": "o-1", "status": "confirmed", "total": 30, "pointsRedeemed": 100})
    assert r.status_code == 201, r.json
    assert (Decimal(r.json["order"]["pointsRedeemedValue"]), r.json["evaluationResults"]["pointsAwarded"]) == (5, 25)
    # 2.50 paid with points is 50 points: 17.50 of 20.00 earns 17.
    r = api.post(f"/members/{member['id']}/purchase-orders",
                 json={"externalId": "o-2", "status": "confirmed", "total": 20, "pointsRedeemedValue": 2.5})
    assert r.status_code == 201, r.json
    assert (r.json["order"]["pointsRedeemed"], r.json["evaluationResults"]["pointsAwarded"]) == (50, 17)
    assert wallet(api, member["id"])[0] == 300 - 100 + 25 - 50 + 17
    r = api.post(f"/members/{member['id']}/purchase-orders",
                 json={"externalId": "o-3", "status": "confirmed", "total": 20, "pointsRedeemedValue": 0.03})
    problem(r, 422, "pointsRedeemedValue")
    r = api.post(f"/members/{member['id']}/purchase-orders",
                 json={"externalId": "o-3", "status": "confirmed", "total": 20, "pointsRedeemed": 500})
    problem(r, 422, "pointsRedeemed")  # 25.00 worth, more than the total
    assert count(session, PurchaseOrder) == 2
    assert api.patch(f"/loyalty-programs/{api.org.program.id}", json={"pointValue": 0}).status_code == 422


def test_a_busy_coupon_row_is_a_503_with_retry_after_and_nothing_written(api, session, monkeypatch):
    from portal.domain import coupons

    make_campaign(api)
    member = api.post("/members", json={"profile": {"givenName": "Olga"}}).json["member"]
    api.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint", json={"amount": 100})

    def busy(_session, _member):  # as lock_account_coupon does when the row stays held past `lock_wait`
        raise coupons.CouponBusy("This coupon is in use by another request; try again", field="couponBookId")

    monkeypatch.setattr(coupons, "lock_purchase_coupons", busy)
    before = (count(session, PurchaseOrder), count(session, LedgerTransaction))
    r = api.post(f"/members/{member['id']}/purchase-orders",
                 json={"externalId": "o-1", "status": "confirmed", "total": 40, "pointsRedeemed": 10,
                       "pointsRedeemedValue": 1, "systemUniqueKey": "till-9-o-1"})
    assert problem(r, 503, "couponBookId")["type"].endswith("/coupon-busy")
    assert r.headers["Retry-After"] == "1"
    assert (count(session, PurchaseOrder), count(session, LedgerTransaction)) == before
    monkeypatch.undo()
    r = api.post(f"/members/{member['id']}/purchase-orders",
                 json={"externalId": "o-1", "status": "confirmed", "total": 40, "pointsRedeemed": 10,
                       "pointsRedeemedValue": 1, "systemUniqueKey": "till-9-o-1"})
    assert r.status_code == 201 and r.json["evaluationResults"]["pointsAwarded"] == 39, r.json
    assert "Retry-After" not in r.headers
    assert api.post(f"/loyalty-members/{member['loyaltyMemberId']}/burn",
                    json={"amount": 10_000}).headers.get("Retry-After") is None  # a 409 is not worth retrying
