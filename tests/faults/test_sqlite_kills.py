"""SQLite: a writing process killed 100 times at random moments (tests/faults/sqlite_writer.py) leaves a
sound database: PRAGMA integrity_check is ok, every balance equals the sum of its entries, the ledger
sums to zero, every acknowledged commit is there, and no keyed operation is half written."""
from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys

import pytest

from tests.processes import ROOT

KILLS = 100


@pytest.mark.live  # about 15 s
def test_a_hundred_kills_of_a_writing_process_leave_a_sound_database(tmp_path):
    path = tmp_path / "killed.db"
    seed = random.randrange(10 ** 6)
    run = subprocess.run([sys.executable, "-m", "tests.faults.sqlite_writer", str(path), str(KILLS), str(seed)],
                         check=False, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["kills"] == KILLS
    # The kills landed while the writer was inside a transaction, most of them (97 of 100 at a load of 11 on
    # two cores); and commits happened between them. The seed is in each message should one need repeating.
    assert report["interrupted"] >= KILLS // 2, (seed, report["interrupted"])
    assert report["acknowledged"], seed

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # A system wallet's balance is its row plus its shard rows (ledger.SHARDS).
        wrong = conn.execute("""select w.id, w.balance + coalesce((select sum(s.balance) from wallet_shards s
                                                              where s.wallet_id = w.id), 0) as balance_total,
                                       coalesce((select sum(e.amount) from ledger_entries e
                                                 where e.wallet_id = w.id), 0) as entry_total
                                from wallets w where balance_total != entry_total""").fetchall()
        assert wrong == [], seed
        assert conn.execute("select sum(amount) from ledger_entries").fetchone() == (0,)
        assert conn.execute("select count(*) from wallets where kind = 'member' and balance < 0").fetchone() == (0,)
        keys = {k for (k,) in conn.execute("select system_unique_key from ledger_transactions "
                                           "where system_unique_key is not null")}
        assert set(report["acknowledged"]) <= keys, seed  # an acknowledged commit survives the kill after it
        # Each keyed transaction has its two entries and its idempotency record, or is absent altogether.
        assert conn.execute("""select count(*) from ledger_transactions t where t.system_unique_key is not null
                               and (select count(*) from ledger_entries e where e.transaction_id = t.id) != 2"""
                            ).fetchone() == (0,)
        assert conn.execute("select count(*) from idempotency_keys").fetchone() == (len(keys),)
