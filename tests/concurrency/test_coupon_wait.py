"""A purchase waits for a coupon row another request holds, within a bound (PostgreSQL).

Another transaction holds the member's (member, book) coupon row, as a use at
the till does while it runs. A purchase confirmed meanwhile must wait for it
and then use the coupon (before, it skipped the row and earned without the
coupon); if the row stays held past the bound, the purchase fails as a whole
with a 503 coupon-busy problem and leaves nothing behind, and its retry earns.
SQLite runs one writer at a time (BEGIN IMMEDIATE), so rows are never held
against another writer there: these tests are PostgreSQL's.
"""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from portal.domain import coupons, orders
from portal.domain.coupons import services
from portal.extensions import db
from tests import factories

from .live import balance_of, capped_campaign, post_purchase, postgresql_only

pytestmark = pytest.mark.live


@pytest.fixture
def world(live_app, backend):
    postgresql_only(backend, "rows are held against other writers on PostgreSQL only")
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Wait")
            capped_campaign(session, org, 10_000)
            book = factories.published_book(session, org, "+50", coupons.EXTRAPOINT, discount_amount=50)
            member = factories.make_member(session, org)
            coupons.assign_coupons(session, member, book, actor=org.actor)
            factories.give_points(session, org, member, 100)  # a wallet to watch
            ids = {"org": org.id, "key": org.api_key, "member": member.id, "book": book.id,
                   "account": org.program.points_account_id}
        db.session.remove()
    return ids


class RowHolder:
    """A transaction of its own holding the member's account-coupon row until released."""

    def __init__(self, live_app, ids):
        engine = live_app.extensions["portal_db"].engine
        self.connection = engine.connect()
        self.transaction = self.connection.begin()
        self.connection.execute(text("SELECT id FROM account_coupons WHERE member_id = :m AND book_id = :b "
                                     "FOR UPDATE"), {"m": ids["member"], "b": ids["book"]})
        self.engine = engine

    def waiters(self) -> int:
        with self.engine.connect() as probe:
            return probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                      "AND query ILIKE '%account_coupons%'")).scalar()

    def wallet_is_free(self, member_id: int) -> bool:
        """Nobody holds the member's wallet rows: the waiting purchase moved no points yet."""
        with self.engine.connect() as probe, probe.begin() as tx:
            try:
                probe.execute(text("SELECT id FROM wallets WHERE member_id = :m FOR UPDATE NOWAIT"), {"m": member_id})
                return True
            except OperationalError:
                return False
            finally:
                tx.rollback()

    def release(self):
        self.transaction.commit()
        self.connection.close()


def wait_until(predicate, limit: float = 60.0) -> None:
    """Poll until predicate() holds; fail if it never does (a bound against hanging, not a timing claim)."""
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "the purchase never queued behind the held coupon row"
        time.sleep(0.05)


def coupon_state(live_app, ids):
    with live_app.app_context():
        session = db.session()
        states = session.scalars(select(coupons.CouponUsage.state).where(
            coupons.CouponUsage.member_id == ids["member"], coupons.CouponUsage.kind == coupons.ASSIGN)).all()
        order_count = len(session.scalars(select(orders.PurchaseOrder.id).where(
            orders.PurchaseOrder.member_id == ids["member"])).all())
        db.session.remove()
    return list(states), order_count


def test_a_purchase_waits_for_a_held_coupon_and_uses_it(live_app, live_server, world):
    holder = RowHolder(live_app, world)
    answer = {}
    request = threading.Thread(target=lambda: answer.update(response=post_purchase(
        live_server, world["org"], world["key"], world["member"], "waited", 20.0,
        pointsRedeemed=10, pointsRedeemedValue=1)))
    try:
        request.start()
        wait_until(lambda: holder.waiters() >= 1)
        assert "response" not in answer  # still waiting for the row
        # Coupon rows before wallets: while it waits, it holds no wallet, though it pays with points
        # (orders._confirm locks the purchase's coupons before the points are burned).
        assert holder.wallet_is_free(world["member"])
    finally:
        holder.release()
    request.join(120)

    response = answer["response"]
    assert response.status_code == 201, response.json()
    # 19.00 paid in money earns 19 from the campaign, and the coupon's 50 on top; 10 points paid.
    assert response.json()["order"]["pointsAwarded"] == 19 + 50
    assert balance_of(live_app, world["account"], world["member"]) == 100 - 10 + 69
    assert coupon_state(live_app, world) == (["used"], 1)


def test_a_coupon_held_past_the_bound_fails_the_purchase_cleanly(live_app, live_server, world, monkeypatch):
    monkeypatch.setattr(services, "lock_wait", dt.timedelta(milliseconds=300))
    holder = RowHolder(live_app, world)
    try:
        response = post_purchase(live_server, world["org"], world["key"], world["member"], "busy", 20.0,
                                 systemUniqueKey="till-7-busy")
    finally:
        holder.release()

    assert response.status_code == 503, response.json()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("coupon-busy")
    assert response.headers["Retry-After"] == "1"  # CouponBusy.retry_after: the till may retry in a second
    # Nothing was earned, used or recorded: the till retries the same purchase.
    assert balance_of(live_app, world["account"], world["member"]) == 100
    assert coupon_state(live_app, world) == (["assigned"], 0)

    retry = post_purchase(live_server, world["org"], world["key"], world["member"], "busy", 20.0,
                          systemUniqueKey="till-7-busy")
    assert retry.status_code == 201, retry.json()
    assert retry.json()["order"]["pointsAwarded"] == 70
    assert coupon_state(live_app, world) == (["used"], 1)
