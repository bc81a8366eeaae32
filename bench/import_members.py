"""Time a member import of N rows on a fresh database: the check, then the worker's batches.

    .venv/bin/python bench/import_members.py                  # 100,000 rows, SQLite file in bench/out/
    .venv/bin/python bench/import_members.py --rows 10000 --database-url sqlite:////tmp/imp.db

Drives the domain as the console and the worker do (portal/domain/bulk/): `member_import.check_file`
in one transaction, `confirm`, then `jobs.run_next_batch` in one transaction per batch (as
`worker.run_bulk_jobs`), with the members created through `enrolment.enrol_members` (and, with `--welcome`,
the campaign's points written for the whole batch at once: `campaigns.run_campaigns_many`). Prints the
seconds of each phase; the goal (issue 10) is under 2 minutes for 100,000 rows on SQLite.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from portal.db import make_engine, new_session  # noqa: E402
from portal.domain import campaigns, earning, organizations  # noqa: E402
from portal.domain.actors import system_actor  # noqa: E402
from portal.domain.bulk import jobs, member_import  # noqa: E402
from portal.domain.members import Member  # noqa: E402
from portal.domain.models import metadata  # noqa: E402


def csv_content(rows: int) -> bytes:
    lines = ["email,givenName,familyName,birthDate,city,zipCode,countryCode"]
    lines += [f"member{i}@example.com,Given{i},Family{i},19{50 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d},"
              f"Berlin,{10000 + i % 90000},DE" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--welcome", action="store_true",
                        help="a welcome campaign (10 points on member-created, no tier points): minted set-based per batch "
                             "(portal/domain/bulk/awards.py)")
    args = parser.parse_args()
    url = args.database_url
    if url is None:
        path = ROOT / "bench" / "out" / "import.db"
        path.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    engine = make_engine(url)
    metadata.create_all(engine)
    with new_session(engine) as session:
        org, _ = organizations.create_organization(session, f"Import bench {time.time():.0f}")
        if args.welcome:
            welcome = campaigns.create_campaign(session, org.id, code="WELCOME", name="Welcome",
                                                event_type=earning.MEMBER_CREATED,
                                                actor=system_actor(org.id, "bench"))
            campaigns.add_action(session, welcome, actor=system_actor(org.id, "bench"), rules_text=[], effects=[
                {"type": "award_points", "mode": "fixed", "points": 10, "tierPoints": False}])
        session.commit()
        organization_id = org.id
    actor = system_actor(organization_id, "bench")
    content = csv_content(args.rows)

    started = time.perf_counter()
    with new_session(engine) as session:
        job = member_import.check_file(session, organization_id, "bench.csv", content, actor=actor)
        member_import.confirm(session, job, actor=actor)
        session.commit()
        job_id = job.id
    checked = time.perf_counter()
    batches = 0
    while True:
        with new_session(engine) as session:
            job = jobs.run_next_batch(session)
            session.commit()
        if job is None:
            break
        batches += 1
    finished = time.perf_counter()
    with new_session(engine) as session:
        job = session.get(jobs.BulkJob, job_id)
        count = session.scalar(select(func.count()).select_from(Member).where(Member.organization_id == organization_id))
    print(f"{args.rows:,} rows on {engine.dialect.name}: check {checked - started:.1f} s, "
          f"import {finished - checked:.1f} s in {batches} batches, total {finished - started:.1f} s; "
          f"job {job.status}, created {job.created:,}, members in the organisation {count:,}")


if __name__ == "__main__":
    main()
