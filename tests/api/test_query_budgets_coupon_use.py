"""Query budget of the bench's "coupon code use" request (issue 11): POST .../coupon-books/{book}/use naming a
fresh single-use code of the pool for a member who does not hold it, as an exact statement count on both
databases. The API key is resolved from the process's cache (warmed by a first request)."""
from __future__ import annotations

from sqlalchemy import select

from portal.domain import coupons
from portal.extensions import db

from ..factories import make_member
from ..statements import counted

# The book and the member (the handler's reads), then the use (tests/domain/test_query_budgets.py CODE_USE:
# 12 on SQLite, 13 on PostgreSQL). PostgreSQL also serialises the code counts of member, key and organisation
# with one statement of advisory locks (the key's and the organisation's by one of their slots while far from
# their limits: throttle.lock_and_count), and the counts are read right after it instead of in the use (the
# same one statement). The response reads nothing: the code's text comes with the result, the accountCouponId is worked
# out. Savepoints are left out of the count (the harness's and the handler's alike; on PostgreSQL the one the
# throttle's locks are taken after is one more round trip than before); before issue 11's work on this path the
# same request sent 35 (SQLite) and 40 (PostgreSQL), 16 and 19 before what listens to the coupon-used event was
# read in one statement, 17 on PostgreSQL before the lock wait bound was put back by the locking statement.
REQUEST = {"sqlite": 14, "postgresql": 16}


def test_a_named_code_used_at_the_till(api, engine, session, org, backend):
    book = api.post("/coupon-books", json={"name": "Promo", "type": "DISCOUNT", "discountType": "fixed",
                                           "discountAmount": 5, "publishingStatus": "published"}).json["couponBook"]
    assert api.post(f"/coupon-books/{book['id']}/codes", json={"codes": ["BC-1", "BC-2"]}).status_code == 201
    member = make_member(session, org)
    db.session.commit()
    db.session.expunge_all()  # nothing from the set-up in the identity map: a request starts with none
    with counted(engine) as statements:
        r = api.post(f"/coupon-books/{book['id']}/use", json={"memberId": member.id, "code": "BC-2",
                                                               "systemUniqueKey": "till-7-1"})
    assert r.status_code == 201, r.json
    assert len(statements) == REQUEST[backend], statements
    assignment, use = r.json["couponUsages"]
    assert (assignment["action"], assignment["status"], assignment["code"]) == ("assigned", "used", "BC-2")
    assert (use["action"], use["assignmentId"], use["code"]) == ("used", assignment["id"], "BC-2")
    assert use["accountCouponId"] == assignment["accountCouponId"] == coupons.find_account_coupon(
        session, member.id, book["id"]).public_id
    code = session.scalars(select(coupons.CouponCode).where(coupons.CouponCode.code == "BC-2")).one()
    assert (code.assigned_count, code.used_count) == (1, 1)
    # The replay answers the same, from the stored ids.
    again = api.post(f"/coupon-books/{book['id']}/use", json={"memberId": member.id, "code": "BC-2",
                                                               "systemUniqueKey": "till-7-1"})
    assert again.status_code == 201 and again.json == r.json
