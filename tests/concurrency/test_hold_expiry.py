"""Reservations at the till past their expiry are released by the worker once, however many workers run."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from portal.domain import holds, jobs, ledger, points
from portal.domain.ledger import LedgerAccount, LedgerTransaction, Reason
from portal.extensions import db
from tests import factories

from .test_workers import run_in_parallel

pytestmark = pytest.mark.live


def test_parallel_workers_release_each_expired_reservation_once(live_app):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Tills")
            people = [factories.make_member(session, org) for _ in range(20)]
            for person in people:
                points.mint_to_member(session, person, 100, actor=org.actor, reason=Reason(description="start"))
            expiring = [holds.reserve(session, p, 40, actor=org.actor, minutes=10).hold.id for p in people]
            lasting = holds.reserve(session, people[0], 30, actor=org.actor, minutes=120).hold.id
            ids, account_id = [p.id for p in people], org.program.points_account_id
        db.session.remove()

    later = holds.utcnow() + dt.timedelta(hours=1)
    released = run_in_parallel(live_app, lambda s: jobs.release_expired_holds(s, now=later))

    assert sum(released) == 20
    assert ("release_holds", jobs.release_expired_holds) in jobs.JOBS  # the worker's loop runs it
    with live_app.app_context():
        session = db.session()
        account = session.get(LedgerAccount, account_id)
        wallets = [ledger.member_wallet(session, account, member_id) for member_id in ids]
        assert [(w.balance, w.held) for w in wallets] == [(100, 30)] + [(100, 0)] * 19
        assert {session.get(holds.PointsHold, i).status for i in expiring} == {holds.EXPIRED}
        assert session.get(holds.PointsHold, lasting).status == holds.HELD
        voids = session.scalar(select(func.count()).select_from(LedgerTransaction)
                               .where(LedgerTransaction.type == ledger.VOID))
        assert voids == 20
        assert jobs.release_expired_holds(session, now=later) == 0  # nothing left for the next round
        db.session.remove()
