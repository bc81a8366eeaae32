"""Coupon routes through the API: books, codes, assign, use, revert, refusals as problem+json."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.domain import coupons, throttle
from portal.domain.audit import AuditEntry
from portal.domain.coupons import AccountCoupon, CouponBook, CouponCode, CouponUsage
from portal.domain.idempotency import IdempotencyKey
from portal.domain.ledger import LedgerTransaction
from portal.domain.outbox import OutboxEvent
from portal.domain.throttle import FailedAttempt
from tests.conftest import Api
from tests.factories import count, give_points, make_key, make_member, make_tiers, wallet_of

PAST = "2020-01-01T00:00:00Z"
FUTURE = "2099-01-01T00:00:00Z"


def new_book(api, **fields):
    body = {"name": "Free coffee", "type": "REWARD", "publishingStatus": "published", **fields}
    r = api.post("/coupon-books", json=body)
    assert r.status_code == 201, r.json
    return r.json["couponBook"]


def problem(r, status, rule, field=None):
    """A problem+json refusal of this status and type (and naming `field`, when given)."""
    assert r.status_code == status, r.json
    assert r.mimetype == "application/problem+json"
    assert r.json["type"].endswith("/" + rule), r.json
    if field is not None:
        assert field in r.json.get("errors", {}), (field, r.json)
    return r.json


WRITTEN = (CouponBook, CouponCode, CouponUsage, AccountCoupon, LedgerTransaction, IdempotencyKey, OutboxEvent,
           AuditEntry)


def written(session) -> dict[str, int]:
    """Rows a coupon request could write, to show that a refusal wrote none."""
    session.expire_all()
    return {model.__name__: count(session, model) for model in WRITTEN}


# --- books ------------------------------------------------------------------------------------

def test_create_and_read_a_book_with_every_field(api, session, org):
    gold = make_tiers(session, org)[2]
    book = new_book(api, type="DISCOUNT", discountType="percentage", discountAmount=15, validFromDate=PAST,
                    validToDate=FUTURE, maxAssignedPerMember=2, maxAssignedPerCoupon=1, maxCouponCount=500,
                    assignmentRequiredPoints=10, usageRequiredPoints=0, activatable=True, tiers=[str(gold.id)],
                    audienceKeys=["newsletter"], tags=["coffee", "autumn"], externalReference="POS-DISC-15",
                    externalId="crm-77", rankingIndex=5, pictureUrl="https://img.example/15.png",
                    description="Fifteen percent off", i18n={"de": {"title": "15 % Rabatt", "bookingText": "Rabatt"}})
    assert book["discountAmount"] == 15 and book["discountType"] == "percentage"
    assert book["validToDate"] == FUTURE and book["tiers"] == [str(gold.id)]
    assert book["i18n"]["de"]["title"] == "15 % Rabatt" and book["i18n"]["en"]["description"] == "Fifteen percent off"
    assert (book["assignedCount"], book["usedCount"], book["codeCount"]) == (0, 0, 0)
    r = api.get(f"/coupon-books/{book['id']}?locale=de")
    assert r.status_code == 200 and r.json["couponBook"]["title"] == "15 % Rabatt"
    assert r.json["couponBook"]["externalReference"] == "POS-DISC-15"


@pytest.mark.parametrize("body, field", [
    ({"type": "DISCOUNT", "discountAmount": 10}, "discountType"),
    ({"type": "DISCOUNT", "discountType": "percentage", "discountAmount": 101}, "discountAmount"),
    ({"type": "COUPON"}, "type"),
    ({"maxCouponCount": 0}, "maxCouponCount"),
    ({"usageRequiredPoints": 1.5}, "usageRequiredPoints"),
    ({"assignedCount": 5}, "assignedCount"),           # counters cannot be mass-assigned
    ({"organizationId": 999}, "organizationId"),
    ({"validFromDate": "2026-01-01T00:00:00"}, "validFromDate"),  # no timezone
])
def test_invalid_books_are_refused_naming_the_field(api, session, body, field):
    r = api.post("/coupon-books", json={"name": "x", "type": "REWARD", **body})
    assert r.status_code == 422, r.json
    assert field in r.json["errors"], r.json
    assert count(session, coupons.CouponBook) == 0


def test_list_filter_and_paginate_books(api):
    for i in range(3):
        new_book(api, name=f"Coffee {i}", tags=["coffee"])
    new_book(api, name="Tea", tags=["tea"], publishingStatus="draft")
    r = api.get("/coupon-books?tags=coffee&limit=2&order=name,asc")
    assert (r.json["totalCount"], r.json["limit"], len(r.json["results"])) == (3, 2, 2)
    assert [b["name"] for b in r.json["results"]] == ["Coffee 0", "Coffee 1"]
    assert [b["name"] for b in api.get("/coupon-books?status=draft").json["results"]] == ["Tea"]
    assert api.get("/coupon-books?search=tea").json["totalCount"] == 1


def test_publish_disable_archive(api, session):
    book = new_book(api, publishingStatus="draft")
    for status in ("published", "disabled", "archived"):
        r = api.patch(f"/coupon-books/{book['id']}", json={"publishingStatus": status})
        assert r.status_code == 200 and r.json["couponBook"]["publishingStatus"] == status
    before = written(session)
    problem(api.patch(f"/coupon-books/{book['id']}", json={"publishingStatus": "published"}), 409, "coupon-book-archived",
            "publishingStatus")
    problem(api.patch(f"/coupon-books/{book['id']}", json={"type": "DISCOUNT"}), 422, "invalid-field", "type")
    assert written(session) == before
    stored = session.get(CouponBook, book["id"])
    assert (stored.publishing_status, stored.type) == ("archived", "REWARD")


def test_other_organisations_books_are_404(api, session, other_org):
    theirs = coupons.create_book(session, other_org.id, actor=other_org.actor, name="theirs", type="REWARD",
                                 publishing_status="published")
    member = make_member(session, api.org)
    session.commit()  # a refused request rolls the shared session back; keep the set-up
    before = written(session)
    for r in (api.get(f"/coupon-books/{theirs.id}"), api.patch(f"/coupon-books/{theirs.id}", json={"name": "x"}),
              api.post(f"/coupon-books/{theirs.id}/use", json={"memberId": member.id, "systemUniqueKey": "k"}),
              api.get(f"/coupon-books/{theirs.id}/codes")):
        problem(r, 404, "not-found", "couponBookId")
    assert written(session) == before
    assert session.get(CouponBook, theirs.id).name == "theirs"
    mine = new_book(api)
    their_member = make_member(session, other_org)
    session.commit()
    before = written(session)
    problem(api.post(f"/coupon-books/{mine['id']}/assign", json={"memberId": their_member.id}), 404, "not-found",
            "memberId")
    theirs_api = Api(api.client, other_org)
    problem(theirs_api.get(f"/coupon-books/{mine['id']}"), 404, "not-found", "couponBookId")
    assert written(session) == before
    assert theirs_api.get("/coupon-books").json["totalCount"] == 1  # only their own


def test_roles(api, session, org):
    reader, outsider = make_key(session, org, ["coupons:read"]), make_key(session, org, ["members:read"])
    session.commit()
    book = new_book(api)
    assert api.as_(reader).get(f"/coupon-books/{book['id']}").status_code == 200
    before = written(session)
    problem(api.as_(reader).post("/coupon-books", json={"name": "x", "type": "REWARD"}), 403, "forbidden", "role")
    problem(api.as_(outsider).get("/coupon-books"), 403, "forbidden", "role")
    assert written(session) == before


# --- codes -----------------------------------------------------------------------------------

def test_generate_and_list_codes(api, session):
    book = new_book(api)
    r = api.post(f"/coupon-books/{book['id']}/codes", json={"generate": {"count": 10000, "prefix": "AB"}})
    assert r.status_code == 201 and r.json["added"] == 10000 and len(set(r.json["codes"])) == 10000
    assert all(c.startswith("AB") and len(c) >= 2 + coupons.minimum_length(10000) for c in r.json["codes"])
    page = api.get(f"/coupon-books/{book['id']}/codes?limit=100&page=3").json
    assert (page["totalCount"], page["page"], len(page["results"])) == (10000, 3, 100)
    assert page["results"][0]["status"] == "free"
    r = api.get(f"/coupon-books/{book['id']}/codes/{page['results'][0]['id']}")
    assert r.json["couponCode"]["code"] == page["results"][0]["code"]
    assert api.get(f"/coupon-books/{book['id']}").json["couponBook"]["codeCount"] == 10000
    before = written(session)
    problem(api.post(f"/coupon-books/{book['id']}/codes", json={"generate": {"count": 10, "length": 4}}),
            422, "invalid-field", "generate.length")
    assert written(session) == before


def test_import_codes_all_or_nothing(api, session):
    book = new_book(api)
    r = api.post(f"/coupon-books/{book['id']}/codes", json={"codes": ["A-1", "B-2", "A-1", "no spaces"]})
    assert r.status_code == 422 and set(r.json["errors"]) == {"codes[2]", "codes[3]"}
    assert count(session, coupons.CouponCode) == 0
    r = api.post(f"/coupon-books/{book['id']}/codes", json={"codes": ["A-1", "B-2"]})
    assert r.status_code == 201 and r.json["codes"] == ["A-1", "B-2"]
    before = written(session)
    problem(api.post(f"/coupon-books/{book['id']}/codes", json={"codes": ["B-2"], "generate": {"count": 1}}),
            422, "validation-failed", "codes")
    r = problem(api.post(f"/coupon-books/{book['id']}/codes", json={"codes": ["B-2"]}), 422, "validation-failed")
    assert r["errors"]["codes[0]"] == ["already in this coupon book"]
    assert written(session) == before


# --- assign, use, revert ----------------------------------------------------------------------

def test_assign_use_revert_end_to_end(api, session, org):
    member = make_member(session, org)
    give_points(session, org, member, 150)
    session.commit()
    book = new_book(api, usageRequiredPoints=100, maxAssignedPerMember=2)
    api.post(f"/coupon-books/{book['id']}/codes", json={"codes": ["REWARD-1", "REWARD-2", "REWARD-3"]})
    r = api.post(f"/coupon-books/{book['id']}/assign",
                 json={"memberId": member.id, "numberOfCodes": 2, "systemUniqueKeys": ["a-1", "a-2"],
                       "expiredAt": FUTURE, "locationCode": "store-1"}, headers={"interaction-id": "till-4"})
    assert r.status_code == 201, r.json
    assigned = r.json["couponUsages"]
    assert [u["code"] for u in assigned] == ["REWARD-1", "REWARD-2"]
    assert all(u["action"] == "assigned" and u["status"] == "assigned" and u["expiredAt"] == FUTURE
               and u["interactionPoint"] == "till-4" and u["locationCode"] == "store-1" for u in assigned)

    r = api.post(f"/coupon-books/{book['id']}/use",
                 json={"memberId": member.id, "code": "REWARD-2", "systemUniqueKey": "use-1"},
                 headers={"interaction-id": "till-4"})
    assert r.status_code == 201, r.json
    [use] = r.json["couponUsages"]
    assert (use["action"], use["code"], use["assignmentId"], use["pointsBurned"]) == \
        ("used", "REWARD-2", assigned[1]["id"], 100)
    assert use["actor"]["kind"] == "api_key" and use["interactionPoint"] == "till-4"
    assert api.get(f"/members/{member.id}/wallet").json["balances"][0]["balance"] == 50
    replay = api.post(f"/coupon-books/{book['id']}/use",
                      json={"memberId": member.id, "code": "REWARD-2", "systemUniqueKey": "use-1"},
                      headers={"interaction-id": "till-4"})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json["couponUsages"][0]["id"] == use["id"]
    problem(api.post(f"/coupon-books/{book['id']}/use",
                     json={"memberId": member.id, "code": "REWARD-1", "systemUniqueKey": "use-1"}),
            409, "idempotency-key-reused")

    problem(api.post(f"/coupon-books/{book['id']}/use", json={"memberId": member.id, "systemUniqueKey": "use-2"}),
            409, "insufficient-points")
    r = api.post(f"/coupon-usages/{use['id']}/revert")
    assert r.status_code == 200 and r.json["couponUsages"][0]["status"] == "reverted"
    assert api.get(f"/members/{member.id}/wallet").json["balances"][0]["balance"] == 150
    problem(api.post(f"/coupon-usages/{use['id']}/revert"), 409, "already-resolved")

    history = api.get(f"/coupon-books/{book['id']}/usages?kind=use").json
    assert history["totalCount"] == 1 and history["results"][0]["revertedAt"] is not None
    events = list(session.scalars(select(OutboxEvent.event_type).where(OutboxEvent.member_id == member.id,
                                                                       OutboxEvent.event_type.like("coupon-%"))))
    assert events.count("coupon-code-assigned") == 2 and events.count("coupon-code-used") == 1
    assert count(session, AuditEntry, AuditEntry.action == "coupon.use_reverted") == 1


def test_strict_mode_through_the_api(api, session, org):
    member = make_member(session, org)
    session.commit()
    book = new_book(api, maxCouponCount=2)
    r = api.post(f"/coupon-books/{book['id']}/assign",
                 json={"memberId": member.id, "numberOfCodes": 3, "strictMode": True})
    problem(r, 409, "coupon-limit-reached")
    assert r.json["errors"] == {"maxCouponCount": ["All coupons of this book have been handed out"]}
    r = api.post(f"/coupon-books/{book['id']}/assign", json={"memberId": member.id, "numberOfCodes": 3})
    assert r.status_code == 201 and len(r.json["couponUsages"]) == 2


def test_every_refusal_names_its_rule(api, session, org):
    member = make_member(session, org)
    gold = make_tiers(session, org)[2]
    session.commit()
    use = {"memberId": member.id, "systemUniqueKey": "k"}

    def attempt(book, body=use):
        return api.post(f"/coupon-books/{book['id']}/use", json=body)

    def refused(book, rule, body=use):
        """The use is refused for `rule` and leaves no usage, points movement, key or event behind."""
        before = written(session)
        body = problem(attempt(book, body), 409, rule)
        assert written(session) == before, rule
        return body

    refused(new_book(api, publishingStatus="draft"), "coupon-not-published")
    r = refused(new_book(api, validFromDate="2020-01-01T00:00:00Z", validToDate="2021-01-01T00:00:00Z"),
                "coupon-expired")
    assert "validToDate" in r["errors"]
    refused(new_book(api, validFromDate="2098-01-01T00:00:00Z"), "coupon-not-yet-valid")
    refused(new_book(api, activatable=True), "coupon-not-activated")
    refused(new_book(api, usageRequiredPoints=10), "insufficient-points")
    refused(new_book(api, type="EXTRAPOINT", discountAmount=100), "coupon-manual-use-not-allowed")
    refused(new_book(api, tiers=[str(gold.id)]), "coupon-not-eligible")
    once = new_book(api, maxAssignedPerMember=1)
    assert attempt(once, {**use, "systemUniqueKey": "first"}).status_code == 201
    r = refused(once, "coupon-limit-reached", {**use, "systemUniqueKey": "second"})
    assert "maxAssignedPerMember" in r["errors"]
    assert count(session, CouponUsage, CouponUsage.book_id == once["id"]) == 2  # the first assignment and use
    api.patch(f"/members/{member.id}", json={"accountStatus": "LOCKED"})
    refused(new_book(api), "account-not-active", {**use, "systemUniqueKey": "locked"})


def test_guessed_codes_read_the_same_and_are_throttled(api, session, org):
    owner, guesser = make_member(session, org), make_member(session, org)
    session.commit()
    book = new_book(api)
    api.post(f"/coupon-books/{book['id']}/codes", json={"codes": ["TAKEN-CODE", "USED-CODE"]})
    api.post(f"/coupon-books/{book['id']}/use", json={"memberId": owner.id, "code": "USED-CODE",
                                                      "systemUniqueKey": "owner-1"})
    api.post(f"/coupon-books/{book['id']}/assign", json={"memberId": owner.id})  # takes TAKEN-CODE
    bodies = []
    for n, guess in enumerate(["NOPE-NOPE", "TAKEN-CODE", "USED-CODE"]):
        r = api.post(f"/coupon-books/{book['id']}/use",
                     json={"memberId": guesser.id, "code": guess, "systemUniqueKey": f"guess-{n}"})
        bodies.append(problem(r, 409, "coupon-code-not-usable", "code"))
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["type"].endswith("/coupon-code-not-usable")
    # Each refusal was counted although the request itself rolled back.
    assert count(session, FailedAttempt, FailedAttempt.scope == "coupon-code") == 3
    for n in range(3, throttle.LIMITS["code-member"].attempts):
        api.post(f"/coupon-books/{book['id']}/use",
                 json={"memberId": guesser.id, "code": f"GUESS-{n}", "systemUniqueKey": f"guess-{n}"})
    before = {**written(session), "FailedAttempt": count(session, FailedAttempt)}
    problem(api.post(f"/coupon-books/{book['id']}/use",
                     json={"memberId": guesser.id, "code": "ANY-CODE", "systemUniqueKey": "guess-last"}),
            429, "too-many-attempts")
    assert {**written(session), "FailedAttempt": count(session, FailedAttempt)} == before
    assert count(session, CouponUsage, CouponUsage.member_id == guesser.id) == 0
    # The owner is not locked out by someone else's guessing.
    r = api.post(f"/coupon-books/{book['id']}/use",
                 json={"memberId": owner.id, "code": "TAKEN-CODE", "systemUniqueKey": "owner-2"})
    assert r.status_code == 201


def test_use_requires_a_system_unique_key(api, session, org):
    member = make_member(session, org)
    session.commit()
    book = new_book(api)
    before = written(session)
    problem(api.post(f"/coupon-books/{book['id']}/use", json={"memberId": member.id}), 422, "invalid-field",
            "systemUniqueKey")
    assert written(session) == before


# --- a member's coupons ------------------------------------------------------------------------

def test_member_coupons_books_and_counts(api, session, org):
    member = make_member(session, org)
    give_points(session, org, member, 50)
    session.commit()
    lp = org.program.id
    book = new_book(api, tags=["coffee"], maxAssignedPerMember=3)
    dear = new_book(api, name="Dear", assignmentRequiredPoints=500)
    api.post(f"/coupon-books/{book['id']}/codes", json={"codes": ["C-1", "C-2"]})
    api.post(f"/coupon-books/{book['id']}/assign", json={"memberId": member.id, "numberOfCodes": 2})
    api.post(f"/coupon-books/{book['id']}/use", json={"memberId": member.id, "code": "C-1", "systemUniqueKey": "u"})

    page = api.get(f"/loyalty-programs/{lp}/members/{member.id}/coupons").json
    assert page["totalCount"] == 2
    assert {(c["code"], c["status"], c["usable"]) for c in page["results"]} == \
        {("C-1", "used", False), ("C-2", "available", True)}
    assert page["results"][0]["couponBook"]["name"] == "Free coffee"
    unused = api.get(f"/loyalty-programs/{lp}/members/{member.id}/coupons?notUsedOnly=true").json
    assert [c["code"] for c in unused["results"]] == ["C-2"]
    assert api.get(f"/loyalty-programs/{lp}/members/{member.id}/coupons?couponBookTags=tea").json["totalCount"] == 0

    books = api.get(f"/loyalty-programs/{lp}/members/{member.id}/coupon-books?order=id,asc").json["results"]
    by_name = {b["name"]: b for b in books}
    assert by_name["Free coffee"]["memberAssignedCount"] == 2 and by_name["Free coffee"]["claimable"] is False
    assert by_name["Free coffee"]["refusal"]["code"] == "coupon-limit-reached"  # the pool is empty
    assert by_name["Dear"]["refusal"]["code"] == "insufficient-points" and dear["id"]

    counts = api.get(f"/loyalty-programs/{lp}/members/{member.id}/coupon-usages/count").json
    assert counts == {"amountUsed": 1, "amountAssigned": 2}
    card = api.get(f"/members/{member.id}").json["member"]["identifiers"][0]["code"]
    by_card = api.get(f"/loyalty-programs/{lp}/members/{card}/coupons", headers={"id-type": "CARDCODE"}).json
    assert by_card["totalCount"] == 2


def test_a_book_of_another_programme_cannot_be_claimed_through_this_one(api, session, org):
    member = make_member(session, org)
    session.commit()
    other = api.post("/loyalty-programs", json={"name": "Kids club"}).json["loyaltyProgram"]
    book = new_book(api, loyaltyProgramId=other["id"])
    problem(api.post(f"/loyalty-programs/{org.program.id}/members/{member.id}/coupon-books/{book['id']}/claim",
                     json={"systemUniqueKey": "c1"}), 404, "not-found", "couponBookId")
    assert count(session, CouponUsage, CouponUsage.member_id == member.id) == 0
    r = api.post(f"/loyalty-programs/{other['id']}/members/{member.id}/coupon-books/{book['id']}/claim",
                 json={"systemUniqueKey": "c2"})
    assert r.status_code == 201, r.json
    assert count(session, CouponUsage, CouponUsage.member_id == member.id) == 1


def test_openapi_lists_the_coupon_routes(api):
    paths = api.client.get("/api/v1/openapi.json").json["paths"]
    prefix = "/api/v1/organizations/{organizationId}"
    for path in ("/coupon-books", "/coupon-books/{bookId}", "/coupon-books/{bookId}/codes",
                 "/coupon-books/{bookId}/assign", "/coupon-books/{bookId}/use", "/coupon-usages/{couponUsageId}/revert",
                 "/loyalty-programs/{loyaltyProgramId}/members/{memberId}/coupons",
                 "/loyalty-programs/{loyaltyProgramId}/members/{memberId}/coupon-books",
                 "/members/{memberId}/account-coupons", "/account-coupons/{accountCouponId}",
                 "/account-coupons/{accountCouponId}/activation", "/account-coupons/{accountCouponId}/redeem",
                 "/barcodes", "/barcodes/batch", "/barcodes/{barcodeNumber}"):
        assert prefix + path in paths, path


def test_assign_and_use_audited(api, session, org):
    member = make_member(session, org)
    session.commit()
    book = new_book(api)
    api.post(f"/coupon-books/{book['id']}/assign", json={"memberId": member.id})
    api.post(f"/coupon-books/{book['id']}/use", json={"memberId": member.id, "systemUniqueKey": "x"})
    actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("coupon%"))
                                   .order_by(AuditEntry.id)))
    assert actions == ["coupon_book.created", "coupon.assigned", "coupon.used"]
    assert wallet_of(session, org, member).balance == 0


def test_assign_named_codes_through_the_api(api, session, org):
    member, other = make_member(session, org), make_member(session, org)
    session.commit()
    book = new_book(api)
    api.post(f"/coupon-books/{book['id']}/codes", json={"codes": ["PRINTED-1", "PRINTED-2"]})
    r = api.post(f"/coupon-books/{book['id']}/assign", json={"memberId": member.id, "codes": ["PRINTED-2"]})
    assert r.status_code == 201 and [u["code"] for u in r.json["couponUsages"]] == ["PRINTED-2"]
    r = api.post(f"/coupon-books/{book['id']}/assign", json={"memberId": other.id, "codes": ["PRINTED-2"]})
    problem(r, 409, "coupon-code-not-usable")
    assert count(session, FailedAttempt, FailedAttempt.scope == "coupon-code") == 1
