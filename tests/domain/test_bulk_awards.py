"""The import's welcome effects set-based (bulk/awards.py through campaigns.run_campaigns_many): an imported
member ends up with what a member enrolled alone gets, and a batch's welcome costs a constant number of
statements whatever its size."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from portal.domain import audit, campaigns, coupons, earning, enrolment, ledger, missions, points, tiers
from portal.domain.base import forget_memos
from portal.domain.bulk import jobs, member_import
from portal.domain.members import Member
from portal.domain.outbox import OutboxEvent

from .. import factories
from ..statements import counting
from .test_bulk_jobs import csv_of, good_rows, run_to_end


def _welcome(session, org, *, tier_points: bool = True):
    """A welcome campaign the bulk path takes: 10 points (and tier points), then x2 on them, a draft action."""
    welcome = campaigns.create_campaign(session, org.id, code="WELCOME", name="Welcome",
                                        event_type=earning.MEMBER_CREATED, actor=org.actor)
    campaigns.add_action(session, welcome, actor=org.actor, rules_text=[], effects=[
        {"type": "award_points", "mode": "fixed", "points": 10, "tierPoints": tier_points}])
    campaigns.add_action(session, welcome, actor=org.actor, rules_text=[], effects=[
        {"type": "award_points", "mode": "multiplier", "multiplier": "2", "tierPoints": False}])
    campaigns.add_action(session, welcome, actor=org.actor, rules_text=[], status=campaigns.DRAFT, effects=[
        {"type": "award_points", "mode": "fixed", "points": 999}])
    return welcome


def _snapshot(session, org, member) -> dict:
    """What a member got, in terms that do not name rows of their own (ids, times)."""
    wallets = {w.id: w.ledger_account_id for w in ledger.member_wallets(session, member.id)}
    txs = list(session.scalars(select(ledger.LedgerTransaction).where(
        ledger.LedgerTransaction.to_wallet_id.in_(list(wallets))).order_by(ledger.LedgerTransaction.id)))
    position = {tx.id: n for n, tx in enumerate(txs)}
    entries = session.execute(select(ledger.LedgerEntry.transaction_id, ledger.LedgerEntry.amount).where(
        ledger.LedgerEntry.transaction_id.in_(list(position)))).all()
    minted = list(session.scalars(select(audit.AuditEntry).where(
        audit.AuditEntry.action == "ledger.minted", audit.AuditEntry.target_id.in_([str(i) for i in position]))))
    state = session.scalars(select(tiers.MemberTier).where(tiers.MemberTier.member_id == member.id)).first()
    return {
        "balances": [(b["ledgerAccountId"], b["balance"]) for b in points.balances(session, member)],
        "transactions": [(tx.type, tx.status, tx.amount, tx.ledger_account_id, wallets[tx.to_wallet_id],
                          tx.description, tx.tags, tx.actor_kind, tx.actor_label, tx.external_id,
                          (tx.system_unique_key or "").replace(f"member:{member.id}:", "member:*:"), tx.set_id)
                         for tx in txs],
        "entries": sorted((position[tx_id], amount) for tx_id, amount in entries),
        "audit": sorted((position[int(a.target_id)], a.details["amount"], a.details["ledgerAccountId"])
                        for a in minted),
        "evaluations": [(e.campaign_id, e.action_id, e.event_type, e.effect_type, e.points,
                         position.get(e.ledger_transaction_id)) for e in session.scalars(
            select(campaigns.CampaignEvaluation).where(campaigns.CampaignEvaluation.member_id == member.id)
            .order_by(campaigns.CampaignEvaluation.id))],
        "coupons": sorted((u.book_id, u.kind, u.state) for u in session.scalars(
            select(coupons.CouponUsage).where(coupons.CouponUsage.member_id == member.id))),
        "outbox": sorted((e.event_type, tuple(sorted(k for k in e.payload if not k.endswith("Id"))))
                         for e in session.scalars(select(OutboxEvent).where(OutboxEvent.member_id == member.id))),
        "tier": state.tier_id if state else None,
    }


def test_an_imported_member_gets_exactly_what_a_member_enrolled_alone_gets(session, org):
    """Points and tier points, the multiplier on them, the ledger lines, their audit and outbox entries, the
    campaign evaluations, the coupon of a campaign that runs per member (assign_coupon is not set-based), a
    campaign not running yet, and a mission after the campaigns: the same for both."""
    factories.make_tiers(session, org)
    welcome = _welcome(session, org)
    book = coupons.create_book(session, org.id, actor=org.actor, name="Welcome coffee", type=coupons.REWARD,
                               discount_amount=1, publishing_status=coupons.PUBLISHED, max_assigned_per_member=1)
    gift = campaigns.create_campaign(session, org.id, code="GIFT", name="Gift", event_type=earning.MEMBER_CREATED,
                                     actor=org.actor)
    campaigns.add_action(session, gift, actor=org.actor, rules_text=[], effects=[
        {"type": "assign_coupon", "couponBookId": book.id},
        {"type": "award_points", "mode": "fixed", "points": 3, "tierPoints": False}])
    later = campaigns.create_campaign(session, org.id, code="LATER", name="Later", event_type=earning.MEMBER_CREATED,
                                      actor=org.actor, valid_from=dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    campaigns.add_action(session, later, actor=org.actor, rules_text=[], effects=[
        {"type": "award_points", "mode": "fixed", "points": 50}])
    joined = missions.create_mission(session, org.id, actor=org.actor, name="Joined", event_type=earning.MEMBER_CREATED,
                                     goal_count=1, points_on_completion=7)

    alone, evaluation = enrolment.enrol_member(session, org.id, actor=org.actor, profile={"email": "alone@example.com"})
    job = member_import.check_file(session, org.id, "people.csv", csv_of(*good_rows(5)), actor=org.actor)
    member_import.confirm(session, job, actor=org.actor)
    assert run_to_end(session, job, batch_size=3).created == 5
    session.expire_all()

    expected = _snapshot(session, org, alone)
    # What the expectation holds, so that equal snapshots mean something.
    assert [e.type for e in evaluation.effects][:4] == ["award_points", "award_points", "assign_coupon", "award_points"]
    assert expected["balances"][:2] == [(org.program.points_account_id, 10 + 10 + 3 + 7),
                                        (org.program.tier_points_account_id, 10)]
    assert [t[2] for t in expected["transactions"]] == [10, 10, 10, 3, 7]
    assert [e[3:5] for e in expected["evaluations"]] == [("award_points", 10), ("award_points", 10),
                                                         ("assign_coupon", 0), ("award_points", 3)]
    assert len(expected["coupons"]) == 1 and expected["tier"] is not None
    assert welcome.id in [e[0] for e in expected["evaluations"]]
    imported = list(session.scalars(select(Member).where(Member.organization_id == org.id, Member.id != alone.id)))
    assert len(imported) == 5
    for member in imported:
        assert _snapshot(session, org, member) == expected, member.email
        assert missions.progress_of(session, member, joined).completions == 1


def test_a_batch_s_welcome_costs_the_same_statements_whatever_its_size(session, org):
    """With a welcome campaign (points, then x2 on them), the campaign's part of a batch is a fixed number of
    statements: what listens (the campaigns' ids and times; their rows and actions are known to the process after
    the first batch), account, wallets read and created, transactions, entries, balances, shards,
    outbox, audit, evaluations. (Creating the members costs 4 statements a member on SQLite, members.py, and
    tier points add a tier evaluation per member, tiers.py: not counted here.)"""
    _welcome(session, org, tier_points=False)

    def welcome_statements(rows: int) -> int:
        job = member_import.check_file(session, org.id, f"{rows}.csv", csv_of(*good_rows(rows, start=rows * 100)),
                                       actor=org.actor)
        member_import.confirm(session, job, actor=org.actor)
        # As the worker's batch starts: an empty identity map, nothing remembered.
        session.flush()
        session.expunge_all()
        forget_memos(session)
        job = session.get(jobs.BulkJob, job.id)
        with counting(session) as statements:
            jobs.run_batch(session, job, 1000)
        assert job.created == rows
        tables = ("campaign", "wallet", "ledger_", "audit_entries", "outbox_events")
        return sum(1 for sql in statements
                   if any(t in sql for t in tables) and "member-created" not in sql and
                   not sql.startswith("INSERT INTO outbox_events (organization_id, event_type, member_id, payload, "
                                      "created_at, processed_at)") and
                   not (sql.startswith("INSERT INTO audit_entries") and "RETURNING" in sql))

    welcome_statements(2)  # the first batch reads the campaigns whole; then the process knows them (campaigns.py)
    small, large = welcome_statements(3), welcome_statements(40)
    assert small == large
    members = list(session.scalars(select(Member).where(Member.organization_id == org.id)))
    assert len(members) == 45
    assert all(factories.wallet_of(session, org, m).balance == 20 for m in members)


def test_a_welcome_the_ledger_refuses_fails_the_batch_whole(session, org):
    """As for one member: an inactive points account refuses the mint, and nothing of the batch is kept."""
    _welcome(session, org, tier_points=False)
    factories.points_account(session, org).active = False
    job = member_import.check_file(session, org.id, "a.csv", csv_of(*good_rows(4)), actor=org.actor)
    member_import.confirm(session, job, actor=org.actor)
    savepoint = session.begin_nested()
    with pytest.raises(Exception) as raised:
        jobs.run_batch(session, job, 1000)
    assert type(raised.value).__name__ == "LedgerAccountNotActive"
    savepoint.rollback()
    assert session.scalar(select(Member.id).where(Member.organization_id == org.id)) is None


def test_member_wallets_in_keeps_the_wallets_there_are_and_opens_the_others(session, org):
    account = factories.points_account(session, org)
    old, new1, new2 = (factories.make_member(session, org) for _ in range(3))
    kept = factories.wallet_of(session, org, old)
    session.flush()
    forget_memos(session)
    wallets = ledger.member_wallets_in(session, account, [new1.id, old.id, new2.id])
    assert wallets[old.id].id == kept.id
    assert {m: w.member_id for m, w in wallets.items()} == {old.id: old.id, new1.id: new1.id, new2.id: new2.id}
    assert ledger.member_wallets_in(session, account, [new1.id, new2.id]) == {new1.id: wallets[new1.id],
                                                                              new2.id: wallets[new2.id]}
    assert len({w.id for w in wallets.values()}) == 3 and all(w.balance == 0 for w in wallets.values())
