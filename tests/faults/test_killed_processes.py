"""Processes killed (SIGKILL) in the middle of their work, on each backend: an app server half way
through a 20-item ledger batch, a worker half way through expiring points and through draining the
outbox. Nothing half done is kept, and doing it again does it exactly once.

The kill lands at a known place: the server or worker runs tests/faults/hooked_app.py, whose pause
point stops the Nth call of a function until the test has killed the process (tests/faults/pause.py).
Slow-ish: each test starts real processes (about 5 to 15 s each).
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select, text, update

from portal.domain import points
from portal.domain.base import utcnow
from portal.domain.expiry import PointsLot
from portal.domain.idempotency import IdempotencyKey
from portal.domain.ledger import LedgerAccount, LedgerEntry, LedgerTransaction, Reason, Wallet
from portal.domain.outbox import OutboxEvent
from portal.domain.webhooks import WebhookDelivery, create_subscription
from portal.extensions import db
from tests import factories
from tests.webhook_receiver import Receiver

from .pause import wait_for_pause

pytestmark = pytest.mark.live


def ledger_rows(live_app, wallet_ids: list[int]) -> dict:
    """What the ledger holds: transactions by key, balances and their entries' sums, idempotency keys."""
    with live_app.app_context():
        session = db.session
        state = {
            "keys": sorted(k for k in session.scalars(select(LedgerTransaction.system_unique_key)) if k),
            "by_type": dict(session.execute(select(LedgerTransaction.type, func.count())
                                            .group_by(LedgerTransaction.type)).all()),
            "balances": [session.scalar(select(Wallet.balance).where(Wallet.id == w)) for w in wallet_ids],
            "entries": [session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                                       .where(LedgerEntry.wallet_id == w)) for w in wallet_ids],
            "ledger_sum": session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))),
            "idempotency_keys": session.scalar(select(func.count()).select_from(IdempotencyKey)),
        }
        db.session.remove()
    return state


def test_a_server_killed_in_the_middle_of_a_20_item_batch_writes_none_of_it_and_the_retry_applies_it_once(
        live_app, processes, pause_dir):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Batch")
            payer, payee = factories.make_member(session, org), factories.make_member(session, org)
            factories.give_points(session, org, payer, 500)
            wallets = [factories.wallet_of(session, org, p).id for p in (payer, payee)]
            base = f"/api/v1/organizations/{org.id}/ledger-transactions/batch"
            ledger_id, account_id, key = org.program.ledger_id, org.program.points_account_id, org.api_key
        db.session.remove()
    items = [{"ledgerId": ledger_id, "ledgerAccountId": account_id, "amount": n + 1, "fromWalletId": wallets[0],
              "toWalletId": wallets[1], "systemUniqueKey": f"till-3-batch-item-{n}"} for n in range(20)]
    before = ledger_rows(live_app, wallets)
    assert before["balances"] == [500, 0]

    # One worker, paused once the batch is written (one set-based write, points.post_batch) in its open
    # transaction, as the answer is built and before the commit.
    env = processes.env(live_app.config["DATABASE_URL"], FAULT_PAUSE="portal.api.ledgers.transactions_out:1",
                        FAULT_DIR=str(pause_dir))
    url = processes.gunicorn("server", env, app="tests.faults.hooked_app:app", workers=1, threads=2)
    headers = {"Authorization": f"Bearer {key}"}
    send = lambda: requests.post(url + base, json={"items": items}, headers=headers, timeout=60)
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(send)
        paused = wait_for_pause(pause_dir, alive=processes.check_alive)
        if paused["backend_pid"]:  # PostgreSQL: the paused transaction has written (it holds a transaction id)
            assert writing(live_app, paused["backend_pid"])
        os.kill(paused["pid"], signal.SIGKILL)
        with pytest.raises(requests.ConnectionError):
            in_flight.result(60)

    assert ledger_rows(live_app, wallets) == before  # none of the 20 written items, no key kept

    processes.wait_until_up(url, "server")  # gunicorn's master has started a new worker
    retried = send()
    assert retried.status_code == 200, retried.text
    assert retried.json()["failed"] == []
    first_ids = [t["id"] for t in retried.json()["processed"]]
    assert [t["amount"] for t in retried.json()["processed"]] == list(range(1, 21))
    again = send()  # a second retry replays every item
    assert again.status_code == 200 and [t["id"] for t in again.json()["processed"]] == first_ids

    after = ledger_rows(live_app, wallets)
    assert after["keys"] == sorted(item["systemUniqueKey"] for item in items)  # each key once
    assert after["by_type"] == {"mint": 1, "transfer": 20}
    assert after["balances"] == after["entries"] == [500 - 210, 210]
    assert after["ledger_sum"] == 0


def test_a_worker_killed_while_expiring_points_or_draining_the_outbox_does_each_once_after_a_restart(
        live_app, processes, tmp_path):
    with Receiver() as receiver:
        with live_app.app_context():
            with db.transaction() as session:
                org = factories.make_org(session, name="Expiry")
                subscription = create_subscription(session, org.id, actor=org.actor, name="Receiver",
                                                   url=receiver.url, event_types=["ledger-transaction-created"],
                                                   allow_private=True)
                receiver.secret = subscription.secret
                session.get(LedgerAccount, org.program.points_account_id).expires_in_months = 1
                people = [factories.make_member(session, org) for _ in range(8)]
                for n, person in enumerate(people):
                    points.mint_to_member(session, person, 10 + n, actor=org.actor, reason=Reason(description="old"))
                session.execute(update(PointsLot).values(expires_at=utcnow() - dt.timedelta(days=1)))
                wallets = [factories.wallet_of(session, org, p).id for p in people]
            with db.transaction() as session:  # the mints' events are handled before the test starts
                session.execute(update(OutboxEvent).values(processed_at=utcnow()))
                mark = session.scalar(select(func.max(OutboxEvent.id)))
            db.session.remove()
        minted = sum(10 + n for n in range(8))
        assert lots_and_events(live_app, mark)["remaining"] == minted  # eight lots, all past their date

        def worker(name: str, pause: str | None):
            directory = tmp_path / name
            directory.mkdir()
            extra = {"FAULT_PAUSE": pause, "FAULT_DIR": str(directory)} if pause else {}
            proc = processes.worker(name, processes.env(live_app.config["DATABASE_URL"], **extra),
                                    app="tests.faults.hooked_app")
            return proc, directory

        # 1. Killed at the 5th of 8 expiries: the four burns before it are rolled back.
        proc, directory = worker("expiring", "portal.domain.ledger.burn:5")
        wait_for_pause(directory, alive=processes.check_alive)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        state = lots_and_events(live_app, mark)
        assert state["remaining"] == minted and state["burns"] == 0 and state["events"] == 0

        # 2. Killed at the 5th event of the drain (the expiry before it committed): no event handled.
        proc, directory = worker("draining", "portal.domain.jobs.outbox_consumers:5")
        wait_for_pause(directory, alive=processes.check_alive)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        state = lots_and_events(live_app, mark)
        assert state["remaining"] == 0 and state["burns"] == 8
        assert state["events"] == 8 and state["processed"] == 0 and state["deliveries"] == 0
        assert receiver.received == []

        # 3. A worker without a pause finishes the work, each piece once.
        proc, _ = worker("restarted", None)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(receiver.received) < 8:
            processes.check_alive()
            time.sleep(0.2)
        time.sleep(1.5)  # three more rounds of the worker: nothing further may arrive
        processes.stop_one(proc)

        state = lots_and_events(live_app, mark)
        assert state["remaining"] == 0 and state["burns"] == 8 and state["burned"] == minted
        assert state["events"] == state["processed"] == state["deliveries"] == 8
        assert state["delivered"] == ["success"] * 8
        ids = receiver.ids()
        assert len(ids) == len(set(ids)) == 8  # each event sent once
        assert sorted(e.event["data"]["amount"] for e in receiver.received) == [10 + n for n in range(8)]
        ledger = ledger_rows(live_app, wallets)
        assert ledger["balances"] == ledger["entries"] == [0] * 8 and ledger["ledger_sum"] == 0


def writing(live_app, backend_pid: int) -> bool:
    with live_app.app_context():
        held = db.session.scalar(text("select backend_xid is not null from pg_stat_activity where pid = :pid"),
                                 {"pid": backend_pid})
        db.session.remove()
    return bool(held)


def lots_and_events(live_app, mark: int) -> dict:
    """The lots, the burns, and the events after `mark` (written by the workers) with their deliveries."""
    with live_app.app_context():
        session = db.session
        burns = session.scalars(select(LedgerTransaction).where(LedgerTransaction.type == "burn")).all()
        events = session.scalars(select(OutboxEvent).where(OutboxEvent.id > mark)).all()
        state = {"remaining": session.scalar(select(func.sum(PointsLot.remaining))),
                 "burns": len(burns), "burned": sum(t.amount for t in burns),
                 "events": len(events), "processed": sum(1 for e in events if e.processed_at is not None),
                 "deliveries": session.scalar(select(func.count()).select_from(WebhookDelivery)),
                 "delivered": list(session.scalars(select(WebhookDelivery.status).order_by(WebhookDelivery.id)))}
        db.session.remove()
    return state
