"""Helpers shared by the concurrency tests: requests released together, purchases, balances read back."""
from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import insert
from sqlalchemy.orm import Session

from portal.domain import campaigns, ledger, throttle
from portal.domain.base import utcnow
from portal.domain.ledger import LedgerAccount
from portal.domain.throttle import FailedAttempt
from portal.extensions import db

THREADS = 12  # bounded: the machine has two cores, so the requests overlap in the server without swamping it


def postgresql_only(backend: str, why: str) -> None:
    """Skip the test unless it runs on PostgreSQL; `why` says what SQLite cannot show."""
    if backend != "postgresql":
        pytest.skip(why)


def parallel(n: int, call, threads: int = THREADS) -> list:
    """call(i) for i in range(n) on `threads` threads, the first of them released together by a barrier;
    the results in order."""
    parties = min(threads, n)
    barrier = threading.Barrier(parties)

    def run(i: int):
        if i < parties:
            barrier.wait(timeout=60)
        return call(i)

    with ThreadPoolExecutor(max_workers=parties) as pool:
        return list(pool.map(run, range(n)))


def capped_campaign(session, org, cap: int, **effect):
    """A campaign awarding 1 point per currency unit, at most `cap` points a month per member."""
    campaign = campaigns.create_campaign(session, org.id, code="CAP", name="Capped", actor=org.actor,
                                         monthly_points_cap=cap)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1", **effect}])
    return campaign


def post_purchase(live_server, organization_id: int, key: str, member_id: int, external_id: str, total: float,
                  **fields) -> requests.Response:
    """POST a confirmed one-item purchase order for the member (with any further body `fields`)."""
    url = f"{live_server.url}/api/v1/organizations/{organization_id}/members/{member_id}/purchase-orders"
    body = {"externalId": external_id, "status": "confirmed", "total": total,
            "items": [{"sku": "X", "quantity": 1, "unitPrice": total}], **fields}
    return requests.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def confirm_purchase(live_server, organization_id: int, key: str, member_id: int, external_id: str,
                     total: float) -> tuple[int, dict]:
    """post_purchase's (status, body)."""
    response = post_purchase(live_server, organization_id, key, member_id, external_id, total)
    return response.status_code, response.json()


def balance_of(live_app, account_id: int, member_id: int) -> int:
    """The member's committed balance in the account, read in a fresh session."""
    with live_app.app_context():
        session = db.session()
        wallet = ledger.member_wallet(session, session.get(LedgerAccount, account_id), member_id)
        value = wallet.balance
        db.session.remove()
    return value


def add_failures(engine, scope: str, key: str, n: int) -> None:
    """n failures of scope/key within the window, committed."""
    if n <= 0:
        return
    now = utcnow()
    with Session(engine) as session:
        session.execute(insert(FailedAttempt), [{"scope": scope, "key_hash": throttle._hash(key),
                                                 "created_at": now - dt.timedelta(seconds=1)}] * n)
        session.commit()
