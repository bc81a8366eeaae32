"""CPU per request, in process: a Portal scenario against its bare baseline, each timed with
`time.process_time()` (this process's CPU only, so less sensitive to other load than wall time).

    .venv/bin/python bench/cpu_per_request.py             # mint and batch, on a copy of the kept SQLite seed
    .venv/bin/python bench/cpu_per_request.py mint --requests 500

Both apps run through Flask's test client (no HTTP, no gunicorn): the ratio bare/Portal is the in-process share
of what `make bench` measures, without the per-request server cost both sides pay there.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
for path in (ROOT, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="mint, batch (default: both)")
    parser.add_argument("--seed", default=str(OUT / "seed-100000-1000000.db"))
    parser.add_argument("--requests", type=int, default=300, help="mints per timing (a fifth as many batches)")
    args = parser.parse_args(argv)
    info = json.loads(Path(args.seed).with_suffix(".json").read_text())
    copy = OUT / "cpu.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(args.seed, copy)
    url = f"sqlite:///{copy}"
    os.environ.update(DATABASE_URL=url, SECRET_KEY="cpu-" + "x" * 60, PORTAL_INSTANCE_DIR=str(OUT / "instance"))
    import bare

    from app import app

    bare.prepare(url)
    portal, baseline = app.test_client(), bare.create_app(url).test_client()
    api = f"/api/v1/organizations/{info['organizationId']}"
    auth = {"Authorization": f"Bearer {info['apiKey']}"}
    run, pick = os.urandom(3).hex(), random.Random(1)

    def member(n):
        return info["firstMemberId"] + (n * 7919) % (info["lastMemberId"] - info["firstMemberId"] + 1)

    def batch(_n):
        return {"items": [{"amount": 5, "ledgerId": info["ledgerId"], "ledgerAccountId": info["accountId"],
                           "toWalletId": pick.randint(info["firstWalletId"], info["lastWalletId"])}
                          for _ in range(20)]}

    scenarios = {
        "mint": ((lambda n: portal.post(f"{api}/loyalty-members/BM{member(n):08d}/mint", headers=auth, json={
                      "amount": 10, "systemUniqueKey": f"cpu-{run}-{n}", "description": "bench"}), 201),
                 (lambda n: baseline.post("/insert-update", json={"amount": 10, "systemUniqueKey": f"cpu-{run}-{n}"}),
                  201), args.requests),
        "batch": ((lambda n: portal.post(f"{api}/ledger-transactions/batch", headers=auth, json=batch(n)), 200),
                  (lambda n: baseline.post("/bulk", json=batch(n)), 200), max(args.requests // 5, 1)),
    }
    for name, (*sides, count) in scenarios.items():
        if args.only and name not in args.only:
            continue
        cpu = {}
        for label, (send, status) in zip(("portal", "bare"), sides):
            for n in range(10):
                response = send(n)
                assert response.status_code == status, response.get_data(as_text=True)
            timings = []
            for repeat in range(1, 4):  # the best of three: the least disturbed by other processes
                started = time.process_time()
                for n in range(count):
                    send(repeat * 100_000 + n)
                timings.append((time.process_time() - started) / count * 1000)
            cpu[label] = min(timings)
        print(f"{name}: Portal {cpu['portal']:.2f} ms CPU a request, bare {cpu['bare']:.2f} ms, "
              f"bare/Portal {cpu['bare'] / cpu['portal']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
