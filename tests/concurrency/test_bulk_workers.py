"""Several workers on one bulk job at once: each row is imported once, each member granted once."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal import worker
from portal.domain import audiences
from portal.domain.bulk import jobs, member_import, points_grant
from portal.domain.ledger import LedgerEntry, Wallet
from portal.domain.members import Member
from portal.extensions import db
from tests import factories
from tests.concurrency.live import parallel

pytestmark = pytest.mark.live


def run_workers(app, count=4, batch_size=20):
    """`count` workers at once on the bulk jobs; an exception in any of them fails the test."""
    def work(_):
        with app.app_context():
            worker.run_bulk_jobs(seconds=60, batch_size=batch_size)

    parallel(count, work, threads=count)


def confirmed_import(name: str, csv: str) -> tuple:
    """A new organisation with a confirmed member import of `csv`, committed; (organisation, job id)."""
    with db.transaction() as session:
        org = factories.make_org(session, name=name)
        job = member_import.check_file(session, org.id, "members.csv", csv.encode(), actor=org.actor)
        member_import.confirm(session, job, actor=org.actor)
        job_id = job.id
    db.session.remove()
    return org, job_id


def test_parallel_workers_import_each_row_and_grant_each_member_once(live_app):
    with live_app.app_context():
        org, import_id = confirmed_import(
            "Bulk workers", "email,givenName\n" + "".join(f"w{i}@example.com,W{i}\n" for i in range(200)))
        run_workers(live_app)
        with db.transaction() as session:
            job = session.get(jobs.BulkJob, import_id)
            assert (job.status, job.created, job.done) == (jobs.DONE, 200, 200)
            ids = list(session.scalars(select(Member.id).where(Member.organization_id == org.id)))
            assert len(ids) == 200
            audience = audiences.create_audience(session, org.id, name="All", actor=org.actor, kind=audiences.LIST,
                                                 member_ids=ids)
            grant = points_grant.start_grant(session, org.id, audience_id=audience.id, amount=3, reason="r",
                                             key="parallel", actor=org.actor)
            grant_id = grant.id
        db.session.remove()
        run_workers(live_app)
        with db.transaction() as session:
            grant = session.get(jobs.BulkJob, grant_id)
            assert (grant.status, grant.created, grant.skipped) == (jobs.DONE, 200, 0)
            balances = list(session.scalars(select(Wallet.balance).where(Wallet.member_id.in_(ids))))
            assert sorted(set(balances)) == [3] and len(balances) == 200
            entries = session.scalar(select(func.count()).select_from(LedgerEntry).join(
                Wallet, Wallet.id == LedgerEntry.wallet_id).where(Wallet.member_id.in_(ids)))
            assert entries == 200
        db.session.remove()


def test_a_batch_that_raises_fails_its_job_and_keeps_the_earlier_batches(live_app, monkeypatch):
    with live_app.app_context():
        org, job_id = confirmed_import("Failing batch", "email\n" + "".join(f"f{i}@example.com\n" for i in range(30)))
        real = jobs._handlers[member_import.KIND]
        calls = []

        def second_batch_breaks(session, job, batch_size):
            calls.append(job.cursor)
            if len(calls) == 2:
                session.flush()
                raise RuntimeError("disk full")
            return real(session, job, batch_size)

        monkeypatch.setitem(jobs._handlers, member_import.KIND, second_batch_breaks)
        assert worker.run_bulk_jobs(seconds=30, batch_size=10) == 1  # one batch done, then the failure
        with db.transaction() as session:
            job = session.get(jobs.BulkJob, job_id)
            assert (job.status, job.error, job.created, job.done) == (jobs.FAILED, "RuntimeError: disk full", 10, 10)
            assert session.scalar(select(func.count()).select_from(Member).where(
                Member.organization_id == org.id)) == 10
        db.session.remove()
        assert worker.run_bulk_jobs(seconds=5) == 0  # a failed job is not claimed again
