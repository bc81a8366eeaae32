"""CPU per request of one Portal scenario against its bare baseline, in process: N requests through each app's
test client, timed with `time.process_time()` (this process's CPU only, so steadier than wall time on a shared
machine), and the SQL statements of one Portal request listed.

    .venv/bin/python bench/cpu_pair.py wallet --requests 300 --sql
    .venv/bin/python bench/cpu_pair.py range --database-url postgresql+psycopg://.../portal_bench --info f.json

Works on a copy of the kept SQLite seed like profile_request.py (reads only, so a PostgreSQL seed is not
changed). The ratio bare CPU / Portal CPU is roughly what `make bench` shows as req/s Portal/bare when the
machine is CPU-bound.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
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


def pairs(info: dict) -> dict:
    """scenario -> (Portal path maker, bare path maker)."""
    org, ledger_id, account = info["organizationId"], info["ledgerId"], info["accountId"]
    api = f"/api/v1/organizations/{org}"
    seeded = dt.datetime.fromisoformat(info["seededAt"])
    iso = lambda moment: moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    month_from, month_to = iso(seeded - dt.timedelta(days=30)), iso(seeded)
    return {
        "wallet": (lambda n: "/wallet", lambda n: f"/wallet-page?member={info['portalMemberId']}"),
        "range": (lambda n: f"{api}/ledgers/{ledger_id}/accounts/{account}/transactions"
                            f"?fromExternalEventDate={month_from}&toExternalEventDate={month_to}"
                            f"&limit=20&page={n % 10}",
                  lambda n: f"/range?account={account}&from={month_from}&to={month_to}&page={n % 10}"),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=["wallet", "range"])
    parser.add_argument("--database-url")
    parser.add_argument("--info")
    parser.add_argument("--seed", default=str(OUT / "seed-100000-1000000.db"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="alternating Portal/bare rounds; the best of each")
    parser.add_argument("--sql", action="store_true", help="print the statements of one Portal request")
    args = parser.parse_args(argv)

    info = json.loads(Path(args.info or Path(args.seed).with_suffix(".json")).read_text())
    url = args.database_url
    if url is None:
        copy = OUT / "cpu_pair.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(args.seed, copy)
        url = f"sqlite:///{copy}"
    os.environ.update(DATABASE_URL=url, SECRET_KEY="profile-" + "x" * 56, PORTAL_INSTANCE_DIR=str(OUT / "instance"))
    from sqlalchemy import event

    import bare
    from app import app

    bare_app = bare.create_app(url)
    statements: list[str] = []
    event.listen(app.extensions["portal_db"].engine, "before_cursor_execute",
                 lambda _c, _cur, sql, params, *_: statements.append(f"{sql} {params}"))
    client, bare_client = app.test_client(), bare_app.test_client()
    headers = {"User-Agent": "portal-bench"}
    form = client.get("/login", headers=headers).get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', form).group(1)
    signed_in = client.post("/login", headers=headers, data={"csrf_token": token, "email": info["portalEmail"],
                                                             "password": info["portalPassword"]})
    assert signed_in.status_code == 302, signed_in.status_code
    headers["Authorization"] = f"Bearer {info['apiKey']}"
    portal_path, bare_path = pairs(info)[args.scenario]

    def run(test_client, path, n_requests):
        """(CPU ms, wall ms) a request; wall time includes the database server's work (PostgreSQL)."""
        started, started_wall = time.process_time(), time.perf_counter()
        for n in range(n_requests):
            response = test_client.get(path(n), headers=headers)
            assert response.status_code == 200, (path(n), response.status_code, response.get_data(as_text=True)[:500])
        return ((time.process_time() - started) / n_requests * 1000,
                (time.perf_counter() - started_wall) / n_requests * 1000)

    run(client, portal_path, 10), run(bare_client, bare_path, 10)
    statements.clear()
    client.get(portal_path(0), headers=headers)
    if args.sql:
        for sql in statements:
            print(re.sub(r"\s+", " ", sql)[:600], "\n")
    count = len(statements)
    portal_runs, bare_runs = [], []
    for _ in range(args.rounds):
        portal_runs.append(run(client, portal_path, args.requests))
        bare_runs.append(run(bare_client, bare_path, args.requests))
    (portal, portal_wall), (bare_cpu, bare_wall) = min(portal_runs), min(bare_runs)
    print(f"{args.scenario}: Portal {portal:.2f} ms CPU a request ({count} statements), bare {bare_cpu:.2f} ms; "
          f"bare/Portal {bare_cpu / portal:.2f}; wall time alone {portal_wall:.2f} / {bare_wall:.2f} ms, "
          f"bare/Portal {bare_wall / portal_wall:.2f}  (CPU rounds: Portal {', '.join(f'{v:.2f}' for v, _ in portal_runs)};"
          f" bare {', '.join(f'{v:.2f}' for v, _ in bare_runs)}; load {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
