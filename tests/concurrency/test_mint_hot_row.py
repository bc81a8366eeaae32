"""Mints to different members of one account do not queue on one row (issue 11).

Every mint used to update the account's one issuance wallet row, so on PostgreSQL each mint waited for the
one before it to commit. Now the issuance total is spread over shard rows picked by the member's wallet, so
16 mints to 16 members can all be written and held open at the same moment. The proof: 16 transactions,
each holding its mint uncommitted, all reach a barrier together (with one row in common, 15 of them would
wait for the first to commit, which waits at the barrier: the barrier would time out), and PostgreSQL shows
none of them waiting for a lock. Then they commit, and the ledger still sums to zero.

PostgreSQL only: SQLite runs one writer at a time, whatever the rows.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text

from portal.db import new_session
from portal.domain import ledger, points
from portal.domain.ledger import LedgerAccount, LedgerEntry, Reason, Wallet
from portal.domain.members import Member
from portal.extensions import db
from tests import factories

from .live import postgresql_only

pytestmark = pytest.mark.live

MEMBERS = 16


def test_sixteen_mints_to_different_members_hold_no_common_row(live_app, backend):
    postgresql_only(backend, "SQLite has one writer at a time: row locks are PostgreSQL's")
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Shards")
            members = [factories.make_member(session, org) for _ in range(MEMBERS)]
            account = session.get(LedgerAccount, org.points_account_id)
            for member in members:
                ledger.member_wallet(session, account, member.id)
            account_id, member_ids, actor = account.id, [m.id for m in members], org.actor
        engine = db.engine

    all_written = threading.Barrier(MEMBERS + 1)
    release = threading.Event()
    errors: list[BaseException] = []

    def mint(index: int) -> None:
        session = new_session(engine)
        try:
            member = session.get(Member, member_ids[index])
            points.mint_to_member(session, member, 10 + index, actor=actor,
                                  reason=Reason(system_unique_key=f"shard-{index}"))
            session.flush()
            all_written.wait(timeout=30)  # holding the mint's row locks, uncommitted
            release.wait(timeout=30)
            session.commit()
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)
            session.rollback()
            all_written.abort()
        finally:
            session.close()

    threads = [threading.Thread(target=mint, args=(i,)) for i in range(MEMBERS)]
    for thread in threads:
        thread.start()
    try:
        all_written.wait(timeout=30)
        with engine.connect() as conn:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar()
    finally:
        release.set()
        for thread in threads:
            thread.join(60)
    assert not errors, errors
    assert waiting == 0

    with live_app.app_context():
        session = db.session()
        totals = ledger.totals(session, account_id)
        minted = sum(10 + i for i in range(MEMBERS))
        assert totals == {"minted": minted, "burned": 0, "circulating": minted, "memberBalances": minted}
        account_sum = session.scalar(select(func.sum(LedgerEntry.amount)).join(Wallet, Wallet.id == LedgerEntry.wallet_id)
                                     .where(Wallet.ledger_account_id == account_id))
        assert account_sum == 0
        issuance = ledger.system_wallet(session, session.get(LedgerAccount, account_id), ledger.ISSUANCE)
        assert ledger.balances_of(session, [issuance.id])[issuance.id] == -minted
        db.session.remove()
