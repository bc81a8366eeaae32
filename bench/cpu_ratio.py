"""CPU per request of a scenario, Portal against bare, in process: N requests through each app's test
client, timed with `time.process_time()` (the CPU of this process only: steadier than wall time or wrk while
other work shares the machine), with the wall time alone beside it (which also counts PostgreSQL's own work).
The ratio bare/Portal is roughly what `make bench` shows as req/s Portal/bare on a CPU-bound machine, without
gunicorn's and wrk's own share (which both sides pay, so the bench's ratio is a little closer to 1). On
PostgreSQL on this machine the CPU of the database's server processes is read from /proc as well and shown
beside it, with the ratio of the sums (the bench's machine runs the server on the same cores: a statement
parsed and planned again on every request costs there, not in this process).

    .venv/bin/python bench/cpu_ratio.py                       # on a copy of the kept SQLite seed
    .venv/bin/python bench/cpu_ratio.py page balance --requests 500
    .venv/bin/python bench/cpu_ratio.py wallet --sql          # also the statements of one Portal request
    .venv/bin/python bench/cpu_ratio.py mint batch            # the writes (a fifth as many batches)
    .venv/bin/python bench/cpu_ratio.py --database-url postgresql+psycopg://.../portal_bench_x --info f.json

The member balance is compared with bare's primary-key read, as the issue's target is. The portal wallet page
is requested signed in as the seed's portal member.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
for path in (ROOT, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from profile_request import member_of, open_seed, requests_of, seed_arguments, sign_in  # noqa: E402


def scenarios(info: dict) -> dict:
    """name -> (Portal request, bare request, how many of `--requests`): a request is (method, path of n, body of
    n or None, the status it must answer). The Portal requests are profile_request's (`requests_of`); the bare
    ones ask bare's app for the same rows (the same member for the same n) with the same bodies."""
    ours = requests_of(info)
    member = member_of(info)
    seeded = dt.datetime.fromisoformat(info["seededAt"])
    iso = lambda moment: moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    since, until, account = iso(seeded - dt.timedelta(days=30)), iso(seeded), info["accountId"]
    get = lambda path: ("GET", path, None, 200)  # noqa: E731
    return {
        "tiny JSON": (ours["tiny JSON"], get(lambda n: "/tiny"), 1),
        "primary-key read": (ours["primary-key read"], get(lambda n: f"/member/{member(n)}"), 1),
        "20-row page": (ours["20-row page"], get(lambda n: f"/page?page={n % 50}"), 1),
        "member balance": (ours["balance"], get(lambda n: f"/member/{member(n)}"), 1),
        "date range": (ours["date range"],
                       get(lambda n: f"/range?account={account}&from={since}&to={until}&page={n % 10}"), 1),
        "portal wallet page": (ours["wallet page"],
                               get(lambda n: f"/wallet-page?member={info['portalMemberId']}"), 1),
        "mint": (ours["insert+update"], ("POST", lambda n: "/insert-update", ours["insert+update"][2], 201), 1),
        "batch": (ours["batch"], ("POST", lambda n: "/bulk", ours["batch"][2], 200), 5),
    }


def server_cpu(url: str):
    """A function giving the CPU seconds used so far by the PostgreSQL server processes connected to the
    database at `url` (from /proc: the server must run on this machine), or None when that cannot be read."""
    if not url.startswith("postgresql"):
        return None
    import psycopg
    from sqlalchemy.engine import make_url

    parts = make_url(url)
    if parts.host not in ("127.0.0.1", "localhost", None):
        return None
    monitor = psycopg.connect(host=parts.host or "127.0.0.1", port=parts.port or 5432, user=parts.username,
                              password=parts.password, dbname=parts.database, autocommit=True)
    tick = os.sysconf("SC_CLK_TCK")

    def used() -> float:
        total = 0
        for (pid,) in monitor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND pid <> pg_backend_pid()"):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone, or not ours to read
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    try:
        used()
    except OSError:
        return None
    return used


def timed(client, request, headers: dict, requests: int, start: int = 0,
          server=None) -> tuple[float, float, float]:
    """(CPU ms, wall ms, the database server's CPU ms or 0) a request."""
    method, path, body, status = request
    started_server = server() if server else 0.0
    started, started_wall = time.process_time(), time.perf_counter()
    for n in range(start, start + requests):
        response = client.open(path(n), method=method, headers=headers, json=body(n) if body else None)
        assert response.status_code == status, (path(n), response.status_code, response.get_data(as_text=True)[:300])
    return ((time.process_time() - started) / requests * 1000, (time.perf_counter() - started_wall) / requests * 1000,
            ((server() - started_server) / requests * 1000) if server else 0.0)


def main(argv=None) -> int:
    parser = seed_arguments(__doc__, 300, "requests per round, 3 rounds, the best kept")
    parser.add_argument("--sql", action="store_true", help="print the statements of one Portal request")
    args = parser.parse_args(argv)
    info, url = open_seed(args, "cpu.db")
    from sqlalchemy import event

    import bare
    from app import app

    statements: list[str] = []
    event.listen(app.extensions["portal_db"].engine, "before_cursor_execute",
                 lambda _c, _cur, sql, params, *_: statements.append(f"{sql} {params}"))
    bare.prepare(url)
    portal, plain = app.test_client(), bare.create_app(url).test_client()
    server = server_cpu(url)
    headers = {"User-Agent": "portal-bench"}
    sign_in(portal, info, headers)
    auth = {**headers, "Authorization": f"Bearer {info['apiKey']}"}
    for name, (portal_request, bare_request, fewer) in scenarios(info).items():
        if args.only and not any(word.lower() in name.lower() for word in args.only):
            continue
        count = max(args.requests // fewer, 1)
        timed(portal, portal_request, auth, 10, start=10**6), timed(plain, bare_request, {}, 10, start=10**6)
        statements.clear()
        timed(portal, portal_request, auth, 1, start=2 * 10**6)
        sent = list(statements)
        rounds = [(timed(portal, portal_request, auth, count, start=n * 10**5, server=server),
                   timed(plain, bare_request, {}, count, start=n * 10**5, server=server)) for n in range(3)]
        (ours, ours_wall, ours_server), (theirs, theirs_wall, theirs_server) = (min(r[0] for r in rounds),
                                                                                min(r[1] for r in rounds))
        with_server = (f"; PostgreSQL server {ours_server:.3f} / {theirs_server:.3f} ms CPU, ratio of the sums "
                       f"{(theirs + theirs_server) / (ours + ours_server):.2f}" if server else "")
        print(f"- **{name}**: Portal {ours:.3f} ms CPU a request ({len(sent)} statements), bare {theirs:.3f} ms; "
              f"ratio {theirs / ours:.2f}{with_server}; wall time alone {ours_wall:.2f} / {theirs_wall:.2f} ms, "
              f"ratio {theirs_wall / ours_wall:.2f} (load {os.getloadavg()[0]:.1f})")
        if args.sql:
            for sql in sent:
                print("    ", re.sub(r"\s+", " ", sql)[:600])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
