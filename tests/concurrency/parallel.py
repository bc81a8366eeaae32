"""Helpers shared by the concurrency tests: requests released together, and balances read back."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from portal.domain import ledger
from portal.domain.ledger import LedgerAccount
from portal.extensions import db

THREADS = 12  # bounded: the machine has two cores, so the requests overlap in the server without swamping it


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


def balance_of(live_app, account_id: int, member_id: int) -> int:
    """The member's committed balance in the account, read in a fresh session."""
    with live_app.app_context():
        session = db.session()
        wallet = ledger.member_wallet(session, session.get(LedgerAccount, account_id), member_id)
        value = wallet.balance
        db.session.remove()
    return value
