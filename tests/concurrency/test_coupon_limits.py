"""Coupon limits hold exactly under parallel requests against a live server, on SQLite and PostgreSQL.

Threads are released together by a barrier; the thread count is bounded (the
machine has two cores), so the requests overlap in the server without
overwhelming it. Every refusal must be a clean 409 problem+json: no 5xx, no
deadlock, no double use.
"""
from __future__ import annotations

from collections import Counter

import pytest
import requests
from sqlalchemy import func, select

from portal.domain import coupons, ledger
from portal.domain.coupons import CouponBook, CouponCode, CouponUsage
from portal.domain.ledger import LedgerAccount
from portal.extensions import db
from tests import factories

from .live import parallel

pytestmark = pytest.mark.live


def set_up(live_app, members: int = 1, points: int = 0, codes: list[str] | None = None, **book_fields):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Limits")
            book = coupons.create_book(session, org.id, actor=org.actor, name="Limited", type="REWARD",
                                       publishing_status="published", **book_fields)
            if codes:
                coupons.import_codes(session, book, codes, actor=org.actor)
            people = [factories.make_member(session, org) for _ in range(members)]
            for person in people:
                if points:
                    factories.give_points(session, org, person, points)
            ids = {"org": org.id, "key": org.api_key, "book": book.id, "members": [p.id for p in people],
                   "account": org.program.points_account_id}
        db.session.remove()
    return ids


def use_call(live_server, ids, member_for, code: str | None = None):
    url = f"{live_server.url}/api/v1/organizations/{ids['org']}/coupon-books/{ids['book']}/use"
    headers = {"Authorization": f"Bearer {ids['key']}", "interaction-id": "till-1"}

    def call(n: int):
        body = {"memberId": member_for(n), "systemUniqueKey": f"use-{n}"}
        if code:
            body["code"] = code
        r = requests.post(url, json=body, headers=headers, timeout=120)
        kind = r.json().get("type", "").rsplit("/", 1)[-1] if r.status_code != 201 else "ok"
        return r.status_code, kind, r.headers.get("Content-Type", "")

    return call


def assert_clean(results, successes: int, allowed_refusals: set[str]):
    statuses = Counter(status for status, _, _ in results)
    assert statuses[201] == successes, statuses
    assert statuses[409] == len(results) - successes, statuses
    refusals = Counter(kind for status, kind, _ in results if status == 409)
    assert set(refusals) <= allowed_refusals, refusals
    assert all(ctype.startswith("application/problem+json") for status, _, ctype in results if status == 409)


def book_state(live_app, book_id: int):
    with live_app.app_context():
        session = db.session()
        book = session.get(CouponBook, book_id)
        uses = session.scalar(select(func.count()).select_from(CouponUsage).where(
            CouponUsage.book_id == book_id, CouponUsage.kind == "use", CouponUsage.reverted_at.is_(None)))
        assigns = session.scalar(select(func.count()).select_from(CouponUsage).where(
            CouponUsage.book_id == book_id, CouponUsage.kind == "assign", CouponUsage.reverted_at.is_(None)))
        state = {"assigned_count": book.assigned_count, "used_count": book.used_count, "uses": uses,
                 "assigns": assigns}
        codes = session.scalars(select(CouponCode).where(CouponCode.book_id == book_id)).all()
        state["codes"] = [(c.code, c.assigned_count, c.used_count) for c in codes]
        db.session.remove()
    return state


def test_single_use_code_is_used_once_by_200_parallel_requests(live_app, live_server):
    ids = set_up(live_app, members=50, codes=["ONLY-ONE"])
    call = use_call(live_server, ids, lambda n: ids["members"][n % 50], code="ONLY-ONE")
    results = parallel(200, call)
    assert_clean(results, 1, {"coupon-code-not-usable", "coupon-already-used"})
    state = book_state(live_app, ids["book"])
    assert state == {"assigned_count": 1, "used_count": 1, "uses": 1, "assigns": 1, "codes": [("ONLY-ONE", 1, 1)]}


def test_global_limit_of_50_with_500_requests_from_100_members(live_app, live_server):
    ids = set_up(live_app, members=100, max_coupon_count=50)
    call = use_call(live_server, ids, lambda n: ids["members"][n % 100])
    results = parallel(500, call)
    assert_clean(results, 50, {"coupon-limit-reached"})
    state = book_state(live_app, ids["book"])
    assert (state["assigned_count"], state["used_count"], state["uses"], state["assigns"]) == (50, 50, 50, 50)


def test_per_member_limit_of_1_with_50_requests(live_app, live_server):
    ids = set_up(live_app, members=1, max_assigned_per_member=1)
    call = use_call(live_server, ids, lambda n: ids["members"][0])
    results = parallel(50, call)
    assert_clean(results, 1, {"coupon-limit-reached"})
    state = book_state(live_app, ids["book"])
    assert (state["assigned_count"], state["used_count"], state["uses"]) == (1, 1, 1)


def test_reward_of_100_points_from_150_in_10_parallel_requests(live_app, live_server):
    ids = set_up(live_app, members=1, points=150, usage_required_points=100)
    call = use_call(live_server, ids, lambda n: ids["members"][0])
    results = parallel(10, call)
    assert_clean(results, 1, {"insufficient-points"})
    with live_app.app_context():
        session = db.session()
        account = session.get(LedgerAccount, ids["account"])
        assert ledger.member_wallet(session, account, ids["members"][0]).balance == 50
        assert ledger.totals(session, account.id) == {"minted": 150, "burned": 100, "circulating": 50,
                                                      "memberBalances": 50}
        db.session.remove()
    state = book_state(live_app, ids["book"])
    assert (state["used_count"], state["uses"]) == (1, 1)


def test_same_key_twenty_times_at_once_uses_once(live_app, live_server):
    ids = set_up(live_app, members=1, points=100, usage_required_points=10)
    url = f"{live_server.url}/api/v1/organizations/{ids['org']}/coupon-books/{ids['book']}/use"

    def call(n: int):
        r = requests.post(url, json={"memberId": ids["members"][0], "systemUniqueKey": "till-7-receipt-42"},
                          headers={"Authorization": f"Bearer {ids['key']}"}, timeout=120)
        return r.status_code, r.headers.get("Idempotent-Replayed"), [u["id"] for u in r.json()["couponUsages"]]

    results = parallel(20, call)
    assert {status for status, _, _ in results} == {201}
    assert sum(1 for _, replayed, _ in results if replayed != "true") == 1
    assert len({tuple(usage_ids) for _, _, usage_ids in results}) == 1
    state = book_state(live_app, ids["book"])
    assert (state["used_count"], state["uses"]) == (1, 1)
    with live_app.app_context():
        session = db.session()
        account = session.get(LedgerAccount, ids["account"])
        assert ledger.member_wallet(session, account, ids["members"][0]).balance == 90
        db.session.remove()
