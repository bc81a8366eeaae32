"""Where a write request's time goes, with a sampling profiler (pyinstrument) and statement by statement: a bench
scenario's Portal request in process (Flask's test client, as `profile_request.py`), on a copy of the kept SQLite
seed or on a seeded PostgreSQL database.

    .venv/bin/python bench/pyinstrument_request.py purchase "coupon use" --out bench/profiles
    .venv/bin/python bench/pyinstrument_request.py purchase --database-url postgresql+psycopg://.../portal_bench \\
        --info bench/out/seed-pg.json --out bench/profiles

For each scenario it writes `<out>/<scenario>-<database>.txt`: the wall time of a request alone, the statements of
one request with the time each spent in the driver (the database's own work and the round trip; on SQLite the
COMMIT's WAL write shows as `commit`), then pyinstrument's call tree of N requests (library frames grouped, the
smallest frames left out) and its flat list of the functions with the most time of their own. A sampling
profiler slows Python far less than cProfile, so its shares are closer to what an unprofiled request spends.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from profile_request import open_seed, scenario_runs, seed_arguments  # noqa: E402


def main(argv=None) -> int:
    parser = seed_arguments(__doc__, 200, "requests profiled (after 5 to warm up and 50 timed)")
    parser.add_argument("--out", default=str(BENCH / "profiles"), help="directory for the text files")
    parser.add_argument("--interval", type=float, default=0.0002, help="pyinstrument's sampling interval (s)")
    parser.add_argument("--traced", type=int, default=21, help="requests traced statement by statement")
    parser.add_argument("--tree-limit", type=int, default=140, help="lines of the call tree kept")
    args = parser.parse_args(argv)
    info, url = open_seed(args, "pyinstrument.db")
    from pyinstrument import Profiler
    from sqlalchemy import event

    from app import app

    database = "postgresql" if url.startswith("postgresql") else "sqlite"
    engine = app.extensions["portal_db"].engine
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, one in scenario_runs(app, info, args.only):
        started = time.perf_counter()
        for _ in range(50):
            one()
        alone_ms = (time.perf_counter() - started) / 50 * 1000

        # One request's statements, each with its time in the driver (cursor.execute to its return), and the
        # COMMIT (the dialect's do_commit, timed around it).
        traced: list[list] = []  # the statements of each traced request

        def before(_conn, _cursor, statement, _params, context, _many):
            context._started = time.perf_counter()

        def after(_conn, _cursor, statement, _params, context, _many):
            traced[-1].append([" ".join(statement.split()), (time.perf_counter() - context._started) * 1000])

        committed = []
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        dialect_commit = engine.dialect.do_commit

        def timed_commit(dbapi_connection):
            begun = time.perf_counter()
            try:
                return dialect_commit(dbapi_connection)
            finally:
                committed.append((time.perf_counter() - begun) * 1000)

        engine.dialect.do_commit = timed_commit
        traces = []
        try:
            for _ in range(args.traced):
                traced.append([])
                committed[:] = []
                begun = time.perf_counter()
                one()
                traces.append(((time.perf_counter() - begun) * 1000, traced[-1], sum(committed)))
        finally:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)
            del engine.dialect.do_commit  # the class's again

        profiler = Profiler(interval=args.interval)
        profiler.start()
        for _ in range(args.requests):
            one()
        profiler.stop()
        tree = profiler.output_text(unicode=False, color=False, show_all=False).splitlines()
        flat = profiler.output_text(unicode=False, color=False, flat=True).splitlines()
        # The median of the traced requests, statement by statement (the same statements each time).
        middle = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
        shape = [sql for sql, _ in traces[0][1]]
        alike = [statements for _, statements, _ in traces if [sql for sql, _ in statements] == shape]
        sent = [(sql, middle([statements[n][1] for statements in alike])) for n, sql in enumerate(shape)]
        whole_ms = middle([whole for whole, _, _ in traces])
        committed = [middle([commit for _, _, commit in traces])]
        driver_ms = sum(ms for _, ms in sent)
        lines = [f"# {name}, {database}: pyinstrument over {args.requests} requests (interval {args.interval}s)",
                 "",
                 f"A request alone: {alone_ms:.2f} ms (mean of 50, wall). Traced ({len(alike)} of {args.traced} requests "
                 f"alike, medians): {whole_ms:.2f} ms, "
                 f"{len(sent)} statements, {driver_ms:.2f} ms in the driver's execute"
                 + f", COMMIT {sum(committed):.2f} ms"
                 + ".", "", "## Statements of a request (median driver time, ms)", ""]
        lines += [f"{n:3}. {ms:6.3f}  {sql[:230]}" for n, (sql, ms) in enumerate(sent, 1)]
        lines += ["", "## Call tree (pyinstrument, library frames grouped)", ""]
        lines += tree[:args.tree_limit] + (["  ..."] if len(tree) > args.tree_limit else [])
        lines += ["", "## Own time by function (pyinstrument, flat, top 40)", ""]
        lines += flat[:48]
        target = out / f"{name.replace(' ', '-')}-{database}.txt"
        target.write_text("\n".join(lines) + "\n")
        print(f"{name} ({database}): {alone_ms:.2f} ms alone, {len(sent)} statements, "
              f"{driver_ms:.2f} ms in the driver -> {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
