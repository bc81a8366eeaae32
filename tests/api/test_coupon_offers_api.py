"""Offers rules through the API: audiences, conditions at the till, the per-code PATCH, opening a wallet."""
from __future__ import annotations

from sqlalchemy import select

from portal.domain import audiences, coupons
from portal.domain.audit import AuditEntry
from portal.domain.coupons import CouponCode, CouponUsage
from portal.domain.ledger import LedgerTransaction, Wallet
from tests.factories import count, make_member

from .test_coupons_api import new_book, problem, written


def use(api, book, member, key, **body):
    return api.post(f"/coupon-books/{book['id']}/use", json={"memberId": member.id, "systemUniqueKey": key, **body})


def test_a_member_outside_the_books_audience_is_refused_naming_it(api, session, org):
    vip = audiences.create_audience(session, org.id, name="vip", actor=org.actor, kind=audiences.LIST)
    inside, outside = make_member(session, org), make_member(session, org)
    audiences.add_members(session, vip, [inside.id])
    book = new_book(api, audienceKeys=["vip"])
    before = written(session)
    body = problem(use(api, book, outside, "out-1"), 409, "coupon-not-in-audience", "audienceKeys")
    assert "'vip'" in body["detail"]
    problem(api.post(f"/coupon-books/{book['id']}/assign", json={"memberId": outside.id}), 409,
            "coupon-not-in-audience", "audienceKeys")
    program = org.program.id
    problem(api.post(f"/loyalty-programs/{program}/members/{outside.id}/coupon-books/{book['id']}/claim", json={}),
            409, "coupon-not-in-audience", "audienceKeys")
    assert written(session) == before
    assert use(api, book, inside, "in-1").status_code == 201


def test_conditions_at_the_till_need_the_purchase_and_name_the_field(api, session, org):
    member = make_member(session, org)
    book = new_book(api, type="DISCOUNT", discountType="fixed", discountAmount=5,
                    condition={"minTotal": 20, "excludedCategories": ["kiosk"], "locationCodes": ["BER-01"]})
    assert book["condition"] == {"minTotal": 20, "excludedCategories": ["kiosk"], "locationCodes": ["BER-01"]}
    before = written(session)
    problem(use(api, book, member, "u-1", locationCode="BER-01"), 409, "coupon-purchase-required", "purchase")
    basket = {"total": 30, "externalId": "rcpt-1",
              "items": [{"sku": "CIGS", "unitPrice": 12, "productCategoryCode": "kiosk"},
                        {"sku": "LATTE", "unitPrice": 18, "productCategoryCode": "coffee"}]}
    problem(use(api, book, member, "u-2", locationCode="BER-01", purchase=basket), 409,
            "coupon-below-minimum-total", "condition.minTotal")
    basket["items"][1]["unitPrice"] = 20
    basket["total"] = 32
    problem(use(api, book, member, "u-3", locationCode="HAM-02", purchase=basket), 409, "coupon-store-not-allowed",
            "condition.locationCodes")
    assert written(session) == before
    r = use(api, book, member, "u-4", locationCode="BER-01", purchase=basket)
    assert r.status_code == 201, r.json
    assert session.scalars(select(CouponUsage.purchase_ref).where(CouponUsage.kind == "use")).all() == ["rcpt-1"]
    problem(new_book_raw(api, condition={"daysOfWeek": ["someday"]}), 422, "validation-failed", "condition.daysOfWeek")


def new_book_raw(api, **fields):
    return api.post("/coupon-books", json={"name": "x", "type": "REWARD", **fields})


def test_patch_one_code_active_expiry_and_assignment(api, session, org):
    member, other = make_member(session, org), make_member(session, org)
    book = new_book(api)
    api.post(f"/coupon-books/{book['id']}/codes", json={"codes": ["ALPHA-1", "BETA-2"]})
    alpha, beta = session.scalars(select(CouponCode).order_by(CouponCode.code)).all()
    url = f"/coupon-books/{book['id']}/codes"

    # Switched off: neither handed out nor used by its code.
    r = api.patch(f"{url}/{alpha.id}", json={"active": False})
    assert r.status_code == 200 and r.json["couponCode"]["active"] is False
    assert r.json["couponCode"]["status"] == "inactive"
    problem(use(api, book, member, "a-1", code="ALPHA-1"), 409, "coupon-code-not-usable", "code")
    assert api.patch(f"{url}/{alpha.id}", json={"active": True}).json["couponCode"]["status"] == "free"

    # Its own end.
    r = api.patch(f"{url}/{alpha.id}", json={"expiredAt": "2020-01-01T00:00:00Z"})
    assert r.json["couponCode"]["status"] == "expired" and r.json["couponCode"]["expiredAt"] == "2020-01-01T00:00:00Z"
    problem(use(api, book, member, "a-2", code="ALPHA-1"), 409, "coupon-code-not-usable", "code")
    assert api.patch(f"{url}/{alpha.id}", json={"expiredAt": None}).json["couponCode"]["expiredAt"] is None

    # Assigned to a member, then withdrawn; a renamed code, before it is handed out.
    r = api.patch(f"{url}/{alpha.id}", json={"memberId": member.id})
    assert r.status_code == 200 and r.json["couponCode"]["status"] == "assigned"
    held = session.scalars(select(CouponUsage).where(CouponUsage.code_id == alpha.id)).all()
    assert [(u.member_id, u.kind, u.state) for u in held] == [(member.id, "assign", "assigned")]
    problem(api.patch(f"{url}/{alpha.id}", json={"code": "RENAMED"}), 409, "coupon-code-handed-out", "code")
    # Switched off while held: the member sees it unavailable and the till refuses it, saying why.
    api.patch(f"{url}/{alpha.id}", json={"active": False})
    session.expire_all()
    assert [c.state for c in coupons.member_coupons(session, member).items] == ["unavailable"]
    problem(use(api, book, member, "a-held", code="ALPHA-1"), 409, "coupon-code-inactive", "code")
    api.patch(f"{url}/{alpha.id}", json={"active": True})
    problem(api.patch(f"{url}/{alpha.id}", json={"memberId": other.id}), 409, "coupon-code-not-usable")
    r = api.patch(f"{url}/{alpha.id}", json={"memberId": None})
    assert r.status_code == 200 and r.json["couponCode"]["status"] == "free"
    session.expire_all()
    assert session.scalars(select(CouponUsage.state).where(CouponUsage.code_id == alpha.id)).all() == ["reverted"]
    assert api.patch(f"{url}/{beta.id}", json={"code": "GAMMA-3"}).json["couponCode"]["code"] == "GAMMA-3"
    problem(api.patch(f"{url}/{beta.id}", json={"code": "ALPHA-1"}), 409, "duplicate", "code")
    # A used code stays used.
    assert use(api, book, member, "a-3", code="ALPHA-1").status_code == 201
    problem(api.patch(f"{url}/{alpha.id}", json={"memberId": None}), 409, "coupon-already-used", "memberId")


def test_open_a_wallet_without_moving_points(api, session, org):
    member = make_member(session, org)
    transactions = count(session, LedgerTransaction)
    r = api.post(f"/members/{member.id}/wallet", json={})
    assert r.status_code == 201, r.json
    main = r.json["balances"][0]
    assert main["ledgerAccountId"] == org.program.points_account_id and main["walletId"]
    assert (main["balance"], main["available"]) == (0, 0)
    again = api.post(f"/members/{member.id}/wallet", json={})
    assert again.status_code == 201 and again.json["balances"][0]["walletId"] == main["walletId"]
    assert count(session, LedgerTransaction) == transactions
    opened = session.scalars(select(AuditEntry).where(AuditEntry.action == "wallet.opened")).all()
    assert [e.details["memberId"] for e in opened] == [member.id]  # once: opening an open wallet changes nothing
    assert len(session.scalars(select(Wallet).where(Wallet.member_id == member.id)).all()) == 1
    tiers = api.post(f"/members/{member.id}/wallet", json={"ledgerAccountId": org.program.tier_points_account_id})
    assert tiers.status_code == 201
    assert len(session.scalars(select(Wallet).where(Wallet.member_id == member.id)).all()) == 2
