"""The points report against the raw GROUP BY on the same data, in process, one query at a time.

    .venv/bin/python bench/report_speed.py                                  # SQLite: bench/out/seed-100000-1000000.db
    .venv/bin/python bench/report_speed.py --database-url postgresql+psycopg://postgres@127.0.0.1:54330/portal_bench_x
    .venv/bin/python bench/report_speed.py --seed --members 100000 --entries 1000000 --database-url ...

The issue's target (issue 10): a report over 1,000,000 ledger entries takes at most 1.5 times the raw SQL
GROUP BY. The data is `bench/seed.py`'s (100k members, 1M entries over the past year); `--seed` seeds it
first (a SQLite file is reused when its `.json` sits beside it; a PostgreSQL database name must contain
"bench").

Per range (a year, 30 days) and timezone (UTC, Europe/Berlin with its two clock changes) it times, each on
a fresh session from the same engine (so connections are warm on both sides):
- raw: `bare.group_by_day_statement`, count and sum per UTC day of the points account's transactions;
- report: `reports.build_report(session, org, "points", range)`, as the stats API and the console call it
  (programme and wallets looked up, minted / burned / expired per local day, outstanding worked back from
  the wallets, the buckets folded in Python).
A/B pairs are interleaved (raw then report, then report then raw, ...) so that other work on the machine
moves both sides alike; the figure is the median of the per-pair ratios report / raw, with their range.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from sqlalchemy import update  # noqa: E402

import seed as seeding  # noqa: E402
from bare import group_by_day_statement  # noqa: E402
from portal.db import make_engine, new_session  # noqa: E402
from portal.domain import reports  # noqa: E402
from portal.domain.organizations import Organization  # noqa: E402

ZONES = ("UTC", "Europe/Berlin")


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(engine, info: dict, zone: str, since: dt.datetime, until: dt.datetime, pairs: int) -> dict:
    org_id, account = info["organizationId"], info["accountId"]
    with new_session(engine) as session:
        session.execute(update(Organization).where(Organization.id == org_id).values(timezone=zone))
        session.commit()
    rng = reports.Range(since, until, reports.DAY, zone)

    def raw():
        with new_session(engine) as session:
            session.execute(group_by_day_statement(account, since, until)).all()

    def report():
        with new_session(engine) as session:
            reports.build_report(session, org_id, "points", rng)

    raw(), report()  # warm both: caches, compiled statements, pages in memory
    ratios, raw_times, report_times = [], [], []
    for n in range(pairs):
        if n % 2:
            b = timed(report)
            a = timed(raw)
        else:
            a = timed(raw)
            b = timed(report)
        raw_times.append(a)
        report_times.append(b)
        ratios.append(b / a)
    return {"raw": statistics.median(raw_times), "report": statistics.median(report_times),
            "ratio": statistics.median(ratios), "low": min(ratios), "high": max(ratios)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: the SQLite seed file in bench/out/")
    parser.add_argument("--seed", action="store_true", help="seed the data first")
    parser.add_argument("--members", type=int, default=seeding.DEFAULT_MEMBERS)
    parser.add_argument("--entries", type=int, default=seeding.DEFAULT_ENTRIES)
    parser.add_argument("--pairs", type=int, default=21)
    parser.add_argument("--zones", default=",".join(ZONES))
    args = parser.parse_args(argv)
    path = ROOT / "bench" / "out" / f"seed-{args.members}-{args.entries}.db"
    url = args.database_url or f"sqlite:///{path}"
    info_path = path.with_suffix(".json") if not args.database_url else ROOT / "bench" / "out" / "report-pg.json"
    if args.seed or not info_path.exists():
        path.parent.mkdir(exist_ok=True)
        if not args.database_url:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        info = seeding.seed(url, members_count=args.members, entries=args.entries)
        seeding.write_info(info, info_path)
    info = json.loads(info_path.read_text())
    seeded = dt.datetime.fromisoformat(info["seededAt"])
    ranges = {"a year": (seeded - dt.timedelta(days=366), seeded + dt.timedelta(days=1)),
              "30 days": (seeded - dt.timedelta(days=30), seeded)}
    engine = make_engine(url)
    print(f"{engine.dialect.name}, {args.entries:,} entries, {args.pairs} interleaved pairs per line")
    print("| range | timezone | raw GROUP BY | report | report / raw (median of pairs, range) |")
    print("| --- | --- | ---: | ---: | ---: |")
    try:
        for label, (since, until) in ranges.items():
            for zone in args.zones.split(","):
                found = measure(engine, info, zone, since, until, args.pairs)
                print(f"| {label} | {zone} | {found['raw'] * 1000:.1f} ms | {found['report'] * 1000:.1f} ms | "
                      f"{found['ratio']:.2f} ({found['low']:.2f}–{found['high']:.2f}) |", flush=True)
    finally:
        with new_session(engine) as session:
            session.execute(update(Organization).where(Organization.id == info["organizationId"])
                            .values(timezone="UTC"))
            session.commit()
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
