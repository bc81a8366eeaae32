"""The ledger's limits under parallel requests against a live server (real commits), on each backend.

All threads are released together (one per request) so the requests overlap as
much as the machine allows.
"""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from portal.domain import ledger
from portal.domain.ledger import LedgerEntry, LedgerTransaction, Wallet
from portal.extensions import db
from tests import factories

from .live import parallel

pytestmark = pytest.mark.live


@pytest.fixture
def shop(live_app, live_server):
    """An organisation with two members holding points, committed on the live app's database."""

    def setup(balances):
        with live_app.app_context():
            with db.transaction() as session:
                org = factories.make_org(session, name="Live")
                people = []
                for amount in balances:
                    member = factories.make_member(session, org)
                    wallet = factories.wallet_of(session, org, member)
                    if amount:
                        factories.give_points(session, org, member, amount)
                    people.append({"id": member.id, "lmid": member.loyalty_member_id, "wallet": wallet.id})
                info = {"org": org.id, "key": org.api_key, "ledger": org.program.ledger_id,
                        "account": org.program.points_account_id, "people": people}
        info["base"] = f"{live_server.url}/api/v1/organizations/{info['org']}"
        info["headers"] = {"Authorization": f"Bearer {info['key']}"}
        return info

    return setup


def all_at_once(count: int, call):
    """call(i) for i in range(count), one thread each, all released together; results in order."""
    return parallel(count, call, threads=count)


def ledger_state(live_app, account_id: int, wallet_ids: list[int]) -> dict:
    with live_app.app_context():
        session = db.session
        balances = {w: session.scalar(select(Wallet.balance).where(Wallet.id == w)) for w in wallet_ids}
        entry_sums = {w: session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                                        .where(LedgerEntry.wallet_id == w)) for w in wallet_ids}
        account_sum = session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                                     .join(Wallet, Wallet.id == LedgerEntry.wallet_id)
                                     .where(Wallet.ledger_account_id == account_id))
        totals = ledger.totals(session, account_id)
        by_type = dict(session.execute(select(LedgerTransaction.type, func.count())
                                       .where(LedgerTransaction.ledger_account_id == account_id)
                                       .group_by(LedgerTransaction.type)).all())
        db.session.remove()
    return {"balances": balances, "entries": entry_sums, "account_sum": account_sum, "totals": totals,
            "by_type": by_type}


def test_forty_parallel_burns_from_seventy_points(live_app, shop):
    data = shop([70])
    person = data["people"][0]
    url = f"{data['base']}/loyalty-members/{person['lmid']}/burn"

    def burn(index):
        r = requests.post(url, json={"amount": 10, "systemUniqueKey": f"burn-{index}"}, headers=data["headers"],
                          timeout=120)
        return r.status_code, r.headers.get("Content-Type"), r.json()

    results = all_at_once(40, burn)
    statuses = [status for status, _, _ in results]
    assert statuses.count(201) == 7, statuses
    assert statuses.count(409) == 33, statuses
    for status, content_type, body in results:
        if status == 409:
            assert content_type == "application/problem+json"
            assert body["type"].endswith("insufficient-balance") and "amount" in body["errors"]
    state = ledger_state(live_app, data["account"], [person["wallet"]])
    assert state["balances"][person["wallet"]] == 0 == state["entries"][person["wallet"]]
    assert state["account_sum"] == 0
    assert state["totals"] == {"minted": 70, "burned": 70, "circulating": 0, "memberBalances": 0}
    assert state["by_type"] == {"mint": 1, "burn": 7}


def test_opposing_transfers_neither_deadlock_nor_lose_points(live_app, shop):
    data = shop([1000, 1000])
    a, b = data["people"]
    url = f"{data['base']}/ledgers/{data['ledger']}/accounts/{data['account']}/transactions"

    def transfer(index):
        source, target = (a, b) if index % 2 == 0 else (b, a)
        amount = 1 + index % 7
        r = requests.post(url, json={"amount": amount, "fromWalletId": source["wallet"], "toWalletId": target["wallet"],
                                     "systemUniqueKey": f"t-{index}"}, headers=data["headers"], timeout=120)
        return r.status_code, amount, index % 2

    results = all_at_once(200, transfer)
    statuses = [status for status, _, _ in results]
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses.count(201) == 200, statuses
    a_to_b = sum(amount for status, amount, direction in results if status == 201 and direction == 0)
    b_to_a = sum(amount for status, amount, direction in results if status == 201 and direction == 1)
    state = ledger_state(live_app, data["account"], [a["wallet"], b["wallet"]])
    assert state["balances"][a["wallet"]] == 1000 - a_to_b + b_to_a == state["entries"][a["wallet"]]
    assert state["balances"][b["wallet"]] == 1000 + a_to_b - b_to_a == state["entries"][b["wallet"]]
    assert state["account_sum"] == 0
    assert state["totals"]["memberBalances"] == 2000
    assert state["by_type"] == {"mint": 2, "transfer": 200}


def test_the_same_key_twenty_times_at_once_has_one_effect(live_app, shop):
    data = shop([0])
    person = data["people"][0]
    url = f"{data['base']}/loyalty-members/{person['lmid']}/mint"

    def mint(_):
        r = requests.post(url, json={"amount": 25, "systemUniqueKey": "once-only", "description": "receipt 1"},
                          headers=data["headers"], timeout=120)
        return r.status_code, r.headers.get("Idempotent-Replayed"), r.json()

    results = all_at_once(20, mint)
    assert all(status in (200, 201) for status, _, _ in results), [(s, b) for s, _, b in results]
    ids = {body["transaction"]["id"] for _, _, body in results}
    assert len(ids) == 1
    assert [replayed for _, replayed, _ in results].count(None) == 1  # one original, 19 replays
    assert len({repr(body) for _, _, body in results}) == 1
    state = ledger_state(live_app, data["account"], [person["wallet"]])
    assert state["balances"][person["wallet"]] == 25
    assert state["by_type"] == {"mint": 1}
    # A different body with the same key, also at once: all refused, still one effect.
    clash = all_at_once(10, lambda i: requests.post(url, json={"amount": 26, "systemUniqueKey": "once-only"},
                                                    headers=data["headers"], timeout=120).status_code)
    assert clash == [409] * 10
    assert ledger_state(live_app, data["account"], [person["wallet"]])["balances"][person["wallet"]] == 25


def test_parallel_captures_and_voids_of_one_hold_resolve_it_once(live_app, shop):
    data = shop([100])
    person = data["people"][0]
    account_url = f"{data['base']}/ledgers/{data['ledger']}/accounts/{data['account']}"
    hold = requests.post(f"{account_url}/transactions", json={"amount": 30, "fromWalletId": person["wallet"],
                                                              "captureMethod": "manual"},
                         headers=data["headers"], timeout=60)
    assert hold.status_code == 201, hold.json()
    hold_id = hold.json()["transactions"][0]["id"]

    def resolve(index):
        if index % 2 == 0:  # capture
            r = requests.post(f"{account_url}/capture", json={"transactions": [{"ledgerTransactionId": hold_id}]},
                              headers=data["headers"], timeout=120)
        else:  # a revert of a pending transaction voids it
            r = requests.post(f"{account_url}/transactions/{hold_id}/revert", json={}, headers=data["headers"],
                              timeout=120)
        return r.status_code, r.headers.get("Content-Type"), r.json(), index % 2

    results = all_at_once(20, resolve)
    statuses = [status for status, _, _, _ in results]
    assert statuses.count(409) == 19 and len([s for s in statuses if s in (200, 201)]) == 1, statuses
    for status, content_type, body, _ in results:
        if status == 409:
            assert content_type == "application/problem+json"
            assert body["type"].endswith("already-resolved") and "ledgerTransactionId" in " ".join(body["errors"])
    [(_, _, _, captured)] = [r for r in results if r[0] in (200, 201)]
    state = ledger_state(live_app, data["account"], [person["wallet"]])
    with live_app.app_context():
        held, resolutions = db.session.execute(
            select(Wallet.held, select(func.count()).select_from(LedgerTransaction)
                   .where(LedgerTransaction.pending_id == hold_id).scalar_subquery())
            .where(Wallet.id == person["wallet"])).one()
        db.session.remove()
    assert (held, resolutions) == (0, 1)
    # A capture posts the 30 points; a void leaves the 100.
    assert state["balances"][person["wallet"]] == (100 if captured else 70) == state["entries"][person["wallet"]]
    assert state["by_type"] == ({"mint": 1, "burn": 1, "void": 1} if captured else
                                {"mint": 1, "burn": 1, "capture": 1})
