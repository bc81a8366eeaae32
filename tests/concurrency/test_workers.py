"""Several workers at once: expired points are burned once, birthdays rewarded once, events drained once."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from portal.domain import campaigns, earning, expiry, jobs, ledger, points
from portal.domain.outbox import OutboxEvent
from portal.domain.ledger import LedgerAccount, Reason
from portal.extensions import db
from tests import factories

pytestmark = pytest.mark.live
UTC = dt.timezone.utc


def run_in_parallel(live_app, job, workers=4):
    barrier, results, errors = threading.Barrier(workers), [], []

    def work():
        with live_app.app_context():
            barrier.wait(timeout=30)
            try:
                with db.transaction() as session:
                    results.append(job(session))
            except Exception as error:  # reported below, with the others
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def test_parallel_workers_expire_reward_and_drain_once(live_app):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Workers")
            account = session.get(LedgerAccount, org.program.points_account_id)
            account.expires_in_months = 1
            campaign = campaigns.create_campaign(session, org.id, code="BDAY", name="Birthday", actor=org.actor,
                                                 event_type=earning.BIRTHDAY)
            campaigns.add_action(session, campaign, actor=org.actor, rules_text=[],
                                 effects=[{"type": "award_points", "mode": "fixed", "points": 7,
                                           "tierPoints": False}])
            people = [factories.make_member(session, org, birthDate="1990-03-15") for _ in range(30)]
            for person in people:
                points.mint_to_member(session, person, 10, actor=org.actor, reason=Reason(description="old"))
            ids, account_id = [p.id for p in people], account.id
        db.session.remove()

    later = dt.datetime(2030, 3, 15, 12, 0, tzinfo=UTC)
    expired = run_in_parallel(live_app, lambda s: jobs.expire_points(s, now=later))
    rewarded = run_in_parallel(live_app, lambda s: jobs.reward_birthdays(s, today=later.date()))
    with live_app.app_context():
        pending = db.session.scalar(select(func.count()).select_from(OutboxEvent)
                                    .where(OutboxEvent.processed_at.is_(None)))
        db.session.remove()
    drained = run_in_parallel(live_app, jobs.drain_outbox)

    assert sum(expired) == 300  # every lot burned exactly once
    assert sum(rewarded) == 30  # every birthday once
    assert sum(drained) == pending > 0  # every event marked once
    with live_app.app_context():
        session = db.session()
        account = session.get(LedgerAccount, account_id)
        balances = [ledger.member_wallet(session, account, member_id).balance for member_id in ids]
        assert balances == [7] * 30
        open_lots = session.scalar(select(func.coalesce(func.sum(expiry.PointsLot.remaining), 0))
                                   .where(expiry.PointsLot.ledger_account_id == account_id))
        assert open_lots == 210  # lots still cover the balances exactly
        assert session.scalar(select(func.count()).select_from(OutboxEvent)
                              .where(OutboxEvent.processed_at.is_(None))) == 0
        totals = ledger.totals(session, account_id)
        assert totals["minted"] - totals["burned"] == totals["memberBalances"] == 210
        db.session.remove()
