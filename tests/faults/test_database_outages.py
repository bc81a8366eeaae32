"""The database goes away or refuses to write: the request answers 503 (problem+json on the API, a short
page on the HTML faces) with Retry-After, nothing of it is kept, the data already written stays
intact, and the app serves again as soon as the database does (the pool drops dead connections;
pool_pre_ping tests idle ones before use).

- a PostgreSQL connection killed mid-request (pg_terminate_backend), on the shared test server;
- a restart of PostgreSQL itself, on a cluster of the test's own on a free port;
- SQLite: a read-only database file, and a full disk (a tiny tmpfs; skipped where mount is not allowed).
"""
from __future__ import annotations

import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import create_engine, func, select, text

from portal.domain.ledger import LedgerEntry, LedgerTransaction
from portal.extensions import db
from tests import factories
from tests.web.page import CSRF_TOKEN
from tests.concurrency.live import postgresql_only

from .pause import install, release, wait_for_pause

pytestmark = pytest.mark.live
RECOVERY_SECONDS = 5  # RELIABILITY: 503, then recovery within 5 s


class Shop:
    """One organisation and member on the app's database, and the API calls the tests make."""

    def __init__(self, app, server, points: int = 100):
        with app.app_context():
            with db.transaction() as session:
                org = factories.make_org(session, name="Outage")
                member = factories.make_member(session, org)
                if points:
                    factories.give_points(session, org, member, points)
                self.wallet = factories.wallet_of(session, org, member).id
                self.base = f"{server.url}/api/v1/organizations/{org.id}"
                self.mint_url = f"{self.base}/loyalty-members/{member.loyalty_member_id}/mint"
                self.ledger, self.account = org.program.ledger_id, org.program.points_account_id
                self.headers = {"Authorization": f"Bearer {org.api_key}"}
            db.session.remove()
        self.app, self.server = app, server

    def mint(self, key: str, amount: int = 1) -> requests.Response:
        return requests.post(self.mint_url, json={"amount": amount, "systemUniqueKey": key}, headers=self.headers,
                             timeout=30)

    def batch(self, prefix: str, count: int) -> requests.Response:
        items = [{"ledgerId": self.ledger, "ledgerAccountId": self.account, "amount": 1, "toWalletId": self.wallet,
                  "systemUniqueKey": f"{prefix}-{n}"} for n in range(count)]
        return requests.post(f"{self.base}/ledger-transactions/batch", json={"items": items}, headers=self.headers,
                             timeout=60)

    def ledger_state(self) -> tuple[int, int, list[str]]:
        """(balance from the entries, transactions, their keys), read in a fresh session."""
        with self.app.app_context():
            session = db.session
            state = (session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                                    .where(LedgerEntry.wallet_id == self.wallet)),
                     session.scalar(select(func.count()).select_from(LedgerTransaction)),
                     sorted(k for k in session.scalars(select(LedgerTransaction.system_unique_key)) if k))
            db.session.remove()
        return state


def assert_unavailable(response: requests.Response, problem: bool = True) -> None:
    assert response.status_code == 503, response.text[:500]
    assert response.headers["Retry-After"] == "2"
    if problem:
        assert response.headers["Content-Type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 503 and body["type"].endswith("/database-unavailable")
        assert "nothing was written" in body["detail"]
    else:
        assert response.headers["Content-Type"].startswith("text/html") and "Try again shortly" in response.text
    assert "Traceback" not in response.text


def recovers(shop: Shop, prefix: str) -> list[int]:
    """Mint until one succeeds (at most RECOVERY_SECONDS), then ten more; every status seen."""
    statuses, deadline = [], time.monotonic() + RECOVERY_SECONDS
    while True:
        statuses.append(shop.mint(f"{prefix}-first-{len(statuses)}").status_code)
        if statuses[-1] == 201:
            break
        assert statuses[-1] == 503 and time.monotonic() < deadline, statuses
        time.sleep(0.1)
    statuses += [shop.mint(f"{prefix}-then-{n}").status_code for n in range(10)]
    return statuses


def test_a_connection_killed_mid_request_answers_503_and_the_pool_recovers(live_app, live_server, backend,
                                                                           tmp_path):
    postgresql_only(backend, "pg_terminate_backend: PostgreSQL only")
    shop = Shop(live_app, live_server)
    assert shop.mint("warm-up").status_code == 201  # the pool holds a connection that will die idle
    before = shop.ledger_state()
    undo = install("portal.api.ledgers.transactions_out", 1, tmp_path)  # paused with the batch written
    try:
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(shop.batch, "killed", 5)
            paused = wait_for_pause(tmp_path)
            killed = terminate_backends(live_app)  # the request's connection and the idle ones in the pool
            assert paused["backend_pid"] in killed
            release(tmp_path)
            response = in_flight.result(60)
    finally:
        release(tmp_path)  # never leave the request waiting out its 60 s
        undo()
    assert_unavailable(response)
    assert shop.ledger_state() == before  # none of the batch

    statuses = recovers(shop, "after-kill")
    assert statuses == [201] * 11  # the failed request's pool invalidation gave the next ones fresh connections
    balance, count, keys = shop.ledger_state()
    assert balance == before[0] + 11 and count == before[1] + 11 and "killed-0" not in keys

    # Connections killed while idle in the pool, no request failing first: pool_pre_ping replaces them.
    assert terminate_backends(live_app)
    assert [shop.mint(f"after-idle-kill-{n}").status_code for n in range(5)] == [201] * 5


def terminate_backends(live_app) -> list[int]:
    """pg_terminate_backend for every connection to the app's database (on the shared test server)."""
    from tests.conftest import PG_URL

    name = live_app.config["DATABASE_URL"].rsplit("/", 1)[-1]
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        # Two steps: in one statement the planner may call pg_terminate_backend before the name filter.
        pids = list(conn.execute(text("select pid from pg_stat_activity where datname = :name"),
                                 {"name": name}).scalars())
        for pid in pids:
            conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()
    return pids


def test_a_postgresql_restart_answers_503_while_it_is_down_and_serves_again_once_it_is_up(own_postgres, app_on):
    app, server = app_on(own_postgres.url)
    shop = Shop(app, server)
    assert shop.mint("before").status_code == 201
    assert requests.get(f"{server.url}/login", timeout=30).status_code == 200
    written = shop.ledger_state()

    own_postgres.stop("fast")
    try:
        assert_unavailable(shop.mint("while-down"))
        assert_unavailable(requests.get(f"{server.url}/login", timeout=30), problem=False)
    finally:
        own_postgres.start()

    statuses = recovers(shop, "after-restart")
    assert statuses[-10:] == [201] * 10
    balance, _, keys = shop.ledger_state()
    assert balance == written[0] + len(statuses) - statuses.count(503)
    assert "while-down" not in keys and set(written[2]) <= set(keys)

    # A restart between two requests (none failing in it): pool_pre_ping replaces the dead pooled connections.
    own_postgres.stop("fast")
    own_postgres.start()
    assert [shop.mint(f"after-quiet-restart-{n}").status_code for n in range(5)] == [201] * 5


def sqlite_rows(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute("select id, type, amount, system_unique_key from ledger_transactions order by id").fetchall()


def test_a_read_only_sqlite_file_answers_503_and_keeps_its_data(app_on, tmp_path):
    path = tmp_path / "portal.db"
    app, server = app_on(f"sqlite:///{path}")
    shop = Shop(app, server)
    assert shop.mint("written", 5).status_code == 201
    assert requests.get(f"{server.url}/login", timeout=30).status_code == 200
    rows = sqlite_rows(path)

    # What SQLite does when it may not write the file (a file mode or a read-only mount): it opens it read-only.
    app, server = app_on(f"sqlite:///file:{path}?mode=ro&uri=true", create=False)
    shop.app, shop.mint_url = app, shop.mint_url.replace(shop.server.url, server.url)
    assert_unavailable(shop.mint("refused", 5))
    assert_unavailable(shop.batch("refused", 20))
    browser = requests.Session()  # the member portal: reading still works, a sign-in (which writes) does not
    page = browser.get(f"{server.url}/login", timeout=30)
    assert page.status_code == 200
    token = CSRF_TOKEN.search(page.text).group(1)
    assert_unavailable(browser.post(f"{server.url}/login", data={"csrf_token": token, "email": "nobody@example.com",
                                                                 "password": "wrong password"}, timeout=30),
                       problem=False)
    assert sqlite_rows(path) == rows


def test_a_full_disk_answers_503_keeps_the_data_and_serves_again_once_there_is_room(app_on, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                      check=False, capture_output=True).returncode != 0:
        pytest.skip("a full disk needs a tiny tmpfs, and mount is not allowed here")
    try:
        path = disk / "portal.db"
        app, server = app_on(f"sqlite:///{path}")
        shop = Shop(app, server)
        assert shop.mint("written", 5).status_code == 201
        rows = sqlite_rows(path)
        with sqlite3.connect(path) as conn:  # an empty WAL: the next write needs new room on the disk
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        filler = disk / "filler"
        # Unbuffered: a buffered file keeps what did not fit and fails again when it is closed.
        with open(filler, "wb", buffering=0) as handle:
            try:
                while handle.write(b"\0" * 65536):
                    pass
            except OSError:
                pass

        assert_unavailable(shop.batch("refused", 20))
        assert_unavailable(shop.mint("refused", 5))
        assert sqlite_rows(path) == rows

        filler.unlink()
        statuses = recovers(shop, "room-again")
        assert statuses == [201] * 11
        assert len(sqlite_rows(path)) == len(rows) + 11
    finally:
        db.session.remove()
        db.engine.dispose()  # no file left open on the tmpfs
        subprocess.run(["umount", "-l", str(disk)], check=False, capture_output=True)
