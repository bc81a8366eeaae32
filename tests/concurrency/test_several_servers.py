"""Two gunicorn app servers and two `flask worker`s on one PostgreSQL database, as the README's
"several app servers" section runs them: the limits hold exactly with requests spread over both
servers, the ledger sums to zero, and the workers (racing each other) handle each outbox event once.

PostgreSQL only: SQLite is one file on one host, where writers take turns anyway. Slow-ish (about
30 s): four real processes start, and some 260 requests go through them.
"""
from __future__ import annotations

import time
from collections import Counter

import pytest
import requests
from sqlalchemy import func, select

from portal.domain import coupons
from portal.domain.coupons import CouponBook, CouponUsage
from portal.domain.ledger import LedgerEntry, LedgerTransaction, Wallet, WalletShard
from portal.domain.outbox import OutboxEvent
from portal.domain.webhooks import WebhookDelivery, create_subscription
from portal.extensions import db
from tests import factories
from tests.processes import Processes
from tests.webhook_receiver import Receiver

from .live import capped_campaign, parallel, postgresql_only

pytestmark = pytest.mark.live


@pytest.fixture
def pg_app(backend, request):
    postgresql_only(backend, "several servers share one PostgreSQL database; SQLite is one host's file")
    return request.getfixturevalue("live_app")


@pytest.fixture
def servers(pg_app, tmp_path):
    """The base URLs of two app servers; two workers run beside them. Every process ends with the test."""
    live_app = pg_app
    group = Processes(tmp_path)
    try:
        env = group.env(live_app.config["DATABASE_URL"])
        urls = [group.gunicorn(f"server-{n}", env, wait=False) for n in (1, 2)]
        for n, url in enumerate(urls, 1):
            group.wait_until_up(url, f"server-{n}")
        for n in (1, 2):
            group.worker(f"worker-{n}", env)
        yield urls
        group.check_alive()
    finally:
        group.stop()


class Installation:
    """Organisations on the shared database, each subscribed to `receiver`, and requests sent to the
    servers in turn (request i goes to server i % 2)."""

    def __init__(self, live_app, urls: list[str], receiver: Receiver):
        self.live_app, self.urls, self.receiver = live_app, urls, receiver

    def organisation(self, name: str, members: int = 1, points: int = 0, book: dict | None = None,
                     codes: list[str] | None = None, cap: int | None = None) -> dict:
        with self.live_app.app_context():
            with db.transaction() as session:
                org = factories.make_org(session, name=name)
                # (signatures are checked in test_webhook_delivery.py; here each organisation has its own secret)
                create_subscription(session, org.id, actor=org.actor, name="Receiver", url=self.receiver.url,
                                    event_types=["ledger-transaction-created"], allow_private=True)
                found = {"org": org.id, "key": org.api_key}
                if book is not None:
                    made = coupons.create_book(session, org.id, actor=org.actor, name="Limited", type="REWARD",
                                               publishing_status="published", **book)
                    if codes:
                        coupons.import_codes(session, made, codes, actor=org.actor)
                    found["book"] = made.id
                if cap is not None:
                    capped_campaign(session, org, cap)
                people = [factories.make_member(session, org) for _ in range(members)]
                for person in people:
                    if points:
                        factories.give_points(session, org, person, points)
                found["members"] = [p.id for p in people]
                found["lmids"] = [p.loyalty_member_id for p in people]
                found["wallets"] = [factories.wallet_of(session, org, p).id for p in people]
            db.session.remove()
        return found

    def post(self, n: int, org: dict, path: str, body: dict) -> requests.Response:
        return requests.post(f"{self.urls[n % 2]}/api/v1/organizations/{org['org']}{path}", json=body,
                             headers={"Authorization": f"Bearer {org['key']}"}, timeout=120)

    def scalar(self, stmt):
        with self.live_app.app_context():
            value = db.session.scalar(stmt)
            db.session.remove()
        return value


def outcome(response: requests.Response) -> tuple[int, str]:
    kind = "ok" if response.status_code < 300 else response.json().get("type", "").rsplit("/", 1)[-1]
    return response.status_code, kind


def test_two_servers_and_two_workers_on_one_database_keep_every_limit_and_handle_each_event_once(pg_app, servers):
    with Receiver() as receiver:
        site = Installation(pg_app, servers, receiver)

        # Parallel burns from one balance: 70 points, 40 burns of 10.
        shop = site.organisation("Burns", points=70)
        burns = parallel(40, lambda n: outcome(site.post(n, shop, f"/loyalty-members/{shop['lmids'][0]}/burn",
                                                         {"amount": 10, "systemUniqueKey": f"burn-{n}"})))
        assert Counter(burns) == {(201, "ok"): 7, (409, "insufficient-balance"): 33}

        # One idempotency key sent to both servers at once, 20 times.
        keyed = site.organisation("Keys")
        mints = parallel(20, lambda n: site.post(n, keyed, f"/loyalty-members/{keyed['lmids'][0]}/mint",
                                                 {"amount": 25, "systemUniqueKey": "till-9-receipt-1"}), threads=20)
        assert {r.status_code for r in mints} <= {200, 201}, [r.text for r in mints if r.status_code >= 300][:2]
        assert len({r.json()["transaction"]["id"] for r in mints}) == 1
        assert sum(1 for r in mints if r.headers.get("Idempotent-Replayed") != "true") == 1

        # A single-use code: 60 uses from 20 members.
        single = site.organisation("Code", members=20, book={}, codes=["ONLY-ONE"])
        uses = parallel(60, lambda n: outcome(site.post(n, single, f"/coupon-books/{single['book']}/use", {
            "memberId": single["members"][n % 20], "systemUniqueKey": f"code-{n}", "code": "ONLY-ONE"})))
        assert Counter(s for s, _ in uses) == {201: 1, 409: 59}, Counter(uses)

        # A global coupon limit of 20: 100 uses from 40 members.
        limited = site.organisation("Limit", members=40, book={"max_coupon_count": 20})
        uses = parallel(100, lambda n: outcome(site.post(n, limited, f"/coupon-books/{limited['book']}/use", {
            "memberId": limited["members"][n % 40], "systemUniqueKey": f"limit-{n}"})))
        assert Counter(uses) == {(201, "ok"): 20, (409, "coupon-limit-reached"): 80}

        # A monthly campaign cap of 500 points: 30 purchases of 37.
        capped = site.organisation("Cap", cap=500)
        orders = parallel(30, lambda n: site.post(n, capped, f"/members/{capped['members'][0]}/purchase-orders", {
            "externalId": f"cap-{n}", "status": "confirmed", "total": 37.0,
            "items": [{"sku": "X", "quantity": 1, "unitPrice": 37.0}]}))
        assert [r.status_code for r in orders] == [201] * 30, [r.text for r in orders if r.status_code != 201][:2]
        awarded = sorted(r.json()["order"]["pointsAwarded"] for r in orders)
        assert sum(awarded) == 500 and awarded.count(37) == 13 and awarded.count(19) == 1

        # A points reward (100 points) bought from a balance of 150: once.
        reward = site.organisation("Reward", points=150, book={"usage_required_points": 100})
        buys = parallel(10, lambda n: outcome(site.post(n, reward, f"/coupon-books/{reward['book']}/use", {
            "memberId": reward["members"][0], "systemUniqueKey": f"reward-{n}"})))
        assert Counter(buys) == {(201, "ok"): 1, (409, "insufficient-points"): 9}

        # What the database holds, read directly.
        balance = lambda org: site.scalar(select(Wallet.balance).where(Wallet.id == org["wallets"][0]))
        assert [balance(o) for o in (shop, keyed, capped, reward)] == [0, 25, 500, 50]
        for org, book_uses in ((single, 1), (limited, 20), (reward, 1)):
            assert site.scalar(select(CouponBook.used_count).where(CouponBook.id == org["book"])) == book_uses
            assert site.scalar(select(func.count()).select_from(CouponUsage).where(
                CouponUsage.book_id == org["book"], CouponUsage.kind == "use")) == book_uses
        assert site.scalar(select(func.sum(LedgerEntry.amount))) == 0  # the ledger sums to zero
        # Every balance (a system wallet's with its shards) is the sum of its entries.
        in_shards = select(func.coalesce(func.sum(WalletShard.balance), 0)).where(
            WalletShard.wallet_id == Wallet.id).scalar_subquery()
        assert site.scalar(select(func.count()).select_from(Wallet).where(Wallet.balance + in_shards != select(
            func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.wallet_id == Wallet.id)
            .scalar_subquery())) == 0

        # The two workers drained the outbox and sent the webhooks while all this went on: each event once.
        expected = site.scalar(select(func.count()).select_from(LedgerTransaction)
                               .where(LedgerTransaction.type.in_(("mint", "burn"))))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(receiver.received) < expected:
            time.sleep(0.3)
        time.sleep(1.5)  # a few more worker rounds: nothing further may arrive
        ids = receiver.ids()
        assert len(ids) == len(set(ids)) == expected, (len(ids), len(set(ids)), expected)
        assert site.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.processed_at.is_(None))) == 0
        assert site.scalar(select(func.count()).select_from(WebhookDelivery)) == expected
        assert site.scalar(select(func.count(func.distinct(WebhookDelivery.outbox_event_id)))) == expected
        sent = Counter(r.event["data"]["ledgerTransactionId"] for r in receiver.received)
        assert set(sent.values()) == {1}
