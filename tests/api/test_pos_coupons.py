"""The point-of-sale coupon flow as the Convercus coupon manual walks it, from a scanned card code.

1. the cashier scans the card: the card code identifies the account (id-type: CARDCODE);
2. the till lists the account's coupons and stores each externalReference;
3. a coupon is looked up by its accountCouponId (as if scanned from a QR code);
4. an activatable coupon is refused until activated, then activated;
5. DISCOUNT and REWARD coupons are redeemed; EXTRAPOINT and MULTIPLIER cannot be;
6. counts, points and the till (interaction-id) are recorded.
"""
from __future__ import annotations

from sqlalchemy import select

from portal.domain import coupons
from portal.domain.coupons import CouponUsage
from tests.conftest import Api

TILL = {"interaction-id": "store-12-till-3"}


def scan(api, card, path="", **kw):
    headers = {"id-type": "CARDCODE", **TILL, **kw.pop("headers", {})}
    return api.get(f"/members/{card}/account-coupons{path}", headers=headers, **kw)


def problem_type(r):
    assert r.mimetype == "application/problem+json", r.json
    return r.json["type"].rsplit("/", 1)[-1]


def test_pos_flow_from_a_scanned_card_code(api, session, org):
    # Set-up in the back office: a member with a card and points, three coupon books.
    r = api.post("/members", json={"profile": {"email": "pos@example.com", "givenName": "Petra"}})
    member = r.json["member"]
    card = next(i["code"] for i in member["identifiers"] if i["type"] == "CARDCODE")
    api.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint", json={"amount": 150, "systemUniqueKey": "seed"})
    books = {}
    for name, body in {
        "discount": {"type": "DISCOUNT", "discountType": "percentage", "discountAmount": 10, "activatable": True,
                     "externalReference": "PRICE-RULE-10", "maxAssignedPerMember": 1, "maxCouponCount": 100,
                     "i18n": {"de": {"title": "10 % Rabatt", "subtitle": "Auf alles", "description": "Einmal",
                                     "bookingText": "Rabatt 10 %"}},
                     "validFromDate": "2020-01-01T00:00:00Z", "validToDate": "2099-12-31T23:59:00Z",
                     "pictureUrl": "https://img.example/10.png", "customAttributes": {"shelf": "A"}},
        "reward": {"type": "REWARD", "usageRequiredPoints": 100, "externalReference": "FREE-COFFEE"},
        "extra": {"type": "EXTRAPOINT", "discountAmount": 50, "externalReference": "EXTRA-50"},
    }.items():
        r = api.post("/coupon-books", json={"name": name, "publishingStatus": "published", **body})
        assert r.status_code == 201, r.json
        books[name] = r.json["couponBook"]
        r = api.post(f"/coupon-books/{books[name]['id']}/assign", json={"memberId": member["id"]})
        assert r.status_code == 201, r.json

    # 1-2. Scan the card, list the account coupons.
    r = scan(api, card.lower())  # a hand-typed card code in lower case still identifies the account
    assert r.status_code == 200, r.json
    listed = {c["couponId"]: c for c in r.json["results"]}
    assert set(listed) == {b["id"] for b in books.values()}
    discount = listed[books["discount"]["id"]]
    assert discount["accountId"] == str(member["id"])
    assert (discount["usageType"], discount["couponValue"], discount["discountType"]) == ("DISCOUNT", 10, "percentage")
    assert discount["externalReference"] == "PRICE-RULE-10"
    assert (discount["maxRedeemCount"], discount["maxRedeemCountGlobal"]) == (1, 100)
    assert (discount["redeemCount"], discount["redeemCountGlobal"]) == (0, 0)
    assert discount["validFrom"] == "2020-01-01T00:00:00Z" and discount["validTo"] == "2099-12-31T23:59:00Z"
    assert discount["i18nFields"]["de"] == {"title": "10 % Rabatt", "subTitle": "Auf alles",
                                            "description": "Einmal", "bookingText": "Rabatt 10 %"}
    assert discount["activation"] == {"activatable": True, "activated": False, "lastActivationDate": None}
    assert discount["images"] == [{"path": "https://img.example/10.png", "tags": ["contentPicture"]}]
    assert discount["customProperties"] == [{"name": "shelf", "value": "A"}]
    reward = listed[books["reward"]["id"]]
    assert reward["couponValue"] == 100  # a REWARD's value is the points it costs
    assert reward["activation"] == {"activatable": False, "activated": None, "lastActivationDate": None}
    assert listed[books["extra"]["id"]]["couponValue"] == 50
    # The id is stable: derived from the account and the coupon.
    assert scan(api, card).json["results"][0]["accountCouponId"] == r.json["results"][0]["accountCouponId"]
    assert discount["accountCouponId"] == coupons.account_coupon_public_id(org.id, member["id"],
                                                                           books["discount"]["id"])

    # 3. Details by accountCouponId.
    one = api.get(f"/account-coupons/{discount['accountCouponId']}", headers=TILL)
    assert one.status_code == 200 and one.json["accountCoupon"] == discount

    # 4. Activatable: refused until activated.
    redeem_discount = f"/account-coupons/{discount['accountCouponId']}/redeem"
    r = api.post(redeem_discount, json={"systemUniqueKey": "bon-1"}, headers=TILL)
    assert r.status_code == 409 and problem_type(r) == "coupon-not-activated"
    r = api.patch(f"/account-coupons/{discount['accountCouponId']}/activation", json={"activated": True},
                  headers={"id-type": "CARDCODE", **TILL})
    assert r.status_code == 200
    activation = r.json["accountCoupon"]["activation"]
    assert activation["activated"] is True and activation["lastActivationDate"] is not None

    # 5. Redeem the discount: once.
    r = api.post(redeem_discount, json={"systemUniqueKey": "bon-1", "locationCode": "store-12"}, headers=TILL)
    assert r.status_code == 201, r.json
    assert r.json["accountCoupon"]["redeemCount"] == 1 and r.json["accountCoupon"]["redeemCountGlobal"] == 1
    [use] = r.json["couponUsages"]
    assert (use["action"], use["interactionPoint"], use["locationCode"]) == ("used", "store-12-till-3", "store-12")
    retry = api.post(redeem_discount, json={"systemUniqueKey": "bon-1", "locationCode": "store-12"}, headers=TILL)
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    r = api.post(redeem_discount, json={"systemUniqueKey": "bon-2"}, headers=TILL)
    assert r.status_code == 409 and problem_type(r) == "coupon-limit-reached"

    # The reward burns its points from the account.
    reward_id = reward["accountCouponId"]
    r = api.post(f"/account-coupons/{reward_id}/redeem", json={"systemUniqueKey": "bon-3"}, headers=TILL)
    assert r.status_code == 201 and r.json["couponUsages"][0]["pointsBurned"] == 100
    assert api.get(f"/members/{card}/wallet", headers={"id-type": "CARDCODE"}).json["balances"][0]["balance"] == 50

    # Extra points cannot be redeemed by hand.
    r = api.post(f"/account-coupons/{listed[books['extra']['id']]['accountCouponId']}/redeem",
                 json={"systemUniqueKey": "bon-4"}, headers=TILL)
    assert r.status_code == 409 and problem_type(r) == "coupon-manual-use-not-allowed"

    # 6. The scan shows the new counts; every use names the till.
    after = {c["couponId"]: c for c in scan(api, card).json["results"]}
    assert after[books["discount"]["id"]]["redeemCount"] == 1
    assert after[books["reward"]["id"]]["redeemCount"] == 1 and after[books["reward"]["id"]]["externalCode"] is None
    tills = set(session.scalars(select(CouponUsage.interaction_point).where(CouponUsage.kind == "use")))
    assert tills == {"store-12-till-3"}


def test_external_code_is_the_next_code_to_use(api, session, org):
    member = api.post("/members", json={"profile": {"email": "codes@example.com"}}).json["member"]
    book = api.post("/coupon-books", json={"name": "coded", "type": "DISCOUNT", "discountType": "fixed",
                                           "discountAmount": 5, "publishingStatus": "published"}).json["couponBook"]
    api.post(f"/coupon-books/{book['id']}/codes", json={"codes": ["FIVE-OFF-1", "FIVE-OFF-2"]})
    api.post(f"/coupon-books/{book['id']}/assign", json={"memberId": member["id"], "numberOfCodes": 2})
    [listed] = api.get(f"/members/{member['id']}/account-coupons").json["results"]
    assert listed["externalCode"] == {"value": "FIVE-OFF-1", "type": "TEXT"} and listed["couponValue"] == 5
    api.post(f"/account-coupons/{listed['accountCouponId']}/redeem", json={"systemUniqueKey": "r1"})
    [listed] = api.get(f"/members/{member['id']}/account-coupons").json["results"]
    assert listed["externalCode"]["value"] == "FIVE-OFF-2" and listed["redeemCount"] == 1


def test_pos_refusals_and_isolation(api, session, org, other_org):
    member = api.post("/members", json={"profile": {"email": "locked@example.com"}}).json["member"]
    card = member["identifiers"][0]["code"]
    book = api.post("/coupon-books", json={"name": "r", "type": "REWARD",
                                           "publishingStatus": "published"}).json["couponBook"]
    api.post(f"/coupon-books/{book['id']}/assign", json={"memberId": member["id"]})
    [listed] = scan(api, card).json["results"]
    session.commit()
    # Another organisation cannot see or redeem it, by its own path or ours.
    for theirs in (Api(api.client, other_org), api.as_(other_org.api_key)):
        assert theirs.get(f"/account-coupons/{listed['accountCouponId']}").status_code == 404
        assert theirs.post(f"/account-coupons/{listed['accountCouponId']}/redeem",
                           json={"systemUniqueKey": "x"}).status_code == 404
        assert theirs.get(f"/members/{member['id']}/account-coupons").status_code == 404
    assert scan(api, "NOSUCHCARD").status_code == 404
    assert api.get("/account-coupons/not-an-id").status_code == 404
    # Not activatable: activation is refused.
    r = api.patch(f"/account-coupons/{listed['accountCouponId']}/activation", json={"activated": True})
    assert r.status_code == 409 and problem_type(r) == "coupon-not-activatable"
    # A locked account redeems nothing.
    api.patch(f"/members/{member['id']}", json={"accountStatus": "LOCKED"})
    r = api.post(f"/account-coupons/{listed['accountCouponId']}/redeem", json={"systemUniqueKey": "y"})
    assert r.status_code == 409 and problem_type(r) == "account-not-active"
    # Disabled books leave the till's list.
    api.patch(f"/members/{member['id']}", json={"accountStatus": "ACTIVE"})
    api.patch(f"/coupon-books/{book['id']}", json={"publishingStatus": "disabled"})
    assert scan(api, card).json["results"] == []
    r = api.post(f"/account-coupons/{listed['accountCouponId']}/redeem", json={"systemUniqueKey": "z"})
    assert r.status_code == 409 and problem_type(r) == "coupon-not-published"
