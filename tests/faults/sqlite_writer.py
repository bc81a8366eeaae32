"""A process writing to a SQLite database, killed (SIGKILL) at random moments: for test_sqlite_kills.py.

    python -m tests.faults.sqlite_writer <database file> <kills> <seed>

Sets the database up (an organisation, five members with points), then `kills` times forks a child
that posts random mints, burns and transfers through the domain (points.post_transaction, one
transaction each, with a systemUniqueKey) and kills it 5 to 150 ms later. The child writes
"B <key>" to a pipe before each transaction and "C <key>" once it has committed, so the parent
knows which commits were acknowledged and how many kills landed inside a transaction. Prints
{"acknowledged": [...], "interrupted": n, "kills": n} as JSON. Forking, rather than starting a
Python each time, keeps 100 kills within a few seconds.
"""
from __future__ import annotations

import json
import os
import random
import signal
import sys
import time

from portal.db import make_engine, new_session
from portal.domain import points
from portal.domain.errors import DomainError
from portal.domain.ledger import Reason
from portal.domain.models import metadata
from tests import factories


def set_up(engine) -> dict:
    metadata.create_all(engine)
    session = new_session(engine)
    org = factories.make_org(session, name="Kills")
    people = [factories.make_member(session, org) for _ in range(5)]
    for person in people:
        factories.give_points(session, org, person, 1000)
    plan = {"org": org.id, "account": org.program.points_account_id,
            "wallets": [factories.wallet_of(session, org, p).id for p in people], "actor": org.actor}
    session.commit()
    session.close()
    return plan


def write(engine, plan: dict, pipe: int, seed: int, count: int = 10 ** 9) -> None:
    rng = random.Random(seed)
    session = new_session(engine)
    for n in range(count):
        key = f"w{seed}-{n}"
        source, target = rng.sample(plan["wallets"], 2)
        kind = rng.choice(("mint", "burn", "transfer", "transfer"))
        request = points.TransferRequest(amount=rng.randint(1, 40), ledger_account_id=plan["account"],
                                         from_wallet_id=None if kind == "mint" else source,
                                         to_wallet_id=None if kind == "burn" else target,
                                         reason=Reason(description=kind, system_unique_key=key))
        os.write(pipe, f"B {key}\n".encode())
        try:
            points.post_transaction(session, plan["org"], request, actor=plan["actor"])
            session.commit()
        except DomainError:  # a burn or transfer beyond the balance: refused, nothing kept
            session.rollback()
            os.write(pipe, f"R {key}\n".encode())
            continue
        os.write(pipe, f"C {key}\n".encode())


def main(path: str, kills: int, seed: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    plan = set_up(engine)
    # Warm the engine's statement cache, so that a child writes within its first milliseconds.
    read_end, write_end = os.pipe()
    write(engine, plan, write_end, seed=-1, count=30)
    os.close(write_end)
    while os.read(read_end, 65536):
        pass
    os.close(read_end)
    engine.dispose()  # no connection open when the children are forked
    rng = random.Random(seed)
    acknowledged, interrupted = [], 0
    for round_ in range(kills):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                engine.dispose(close=False)  # SQLAlchemy's recipe for a forked child: its own connections
                write(engine, plan, write_end, seed * 1000 + round_)
            finally:
                os._exit(1)
        os.close(write_end)
        time.sleep(rng.uniform(0.005, 0.150))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        lines = b""
        while chunk := os.read(read_end, 65536):
            lines += chunk
        os.close(read_end)
        events = [line.split(" ", 1) for line in lines.decode().splitlines()]
        acknowledged += [key for mark, key in events if mark == "C"]
        interrupted += bool(events) and events[-1][0] == "B"
    print(json.dumps({"acknowledged": acknowledged, "interrupted": interrupted, "kills": kills}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
