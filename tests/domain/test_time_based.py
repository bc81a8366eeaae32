"""Points expiry (oldest first), tier expiry, birthday rewards and the outbox, as the worker runs them."""
from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy import func, select

from portal.domain import campaigns, earning, expiry, jobs, ledger, points, tiers
from portal.domain.outbox import OutboxEvent
from portal.domain.ledger import LedgerAccount, Reason
from tests import factories

UTC = dt.timezone.utc


def expiring_account(session, org, months=12):
    account = session.get(LedgerAccount, org.program.points_account_id)
    account.expires_in_months = months
    session.flush()
    return account


def at(year, month, day):
    return time_machine.travel(dt.datetime(year, month, day, 12, 0, tzinfo=UTC), tick=False)


def lots_total(session, wallet_id):
    return session.scalar(select(func.coalesce(func.sum(expiry.PointsLot.remaining), 0))
                          .where(expiry.PointsLot.wallet_id == wallet_id))


def test_points_are_spent_and_expire_oldest_first(session, org):
    account = expiring_account(session, org)
    member = factories.make_member(session, org)
    with at(2026, 1, 10):
        points.mint_to_member(session, member, 100, actor=org.actor, reason=Reason(description="January"))
    with at(2026, 3, 5):
        points.mint_to_member(session, member, 50, actor=org.actor, reason=Reason(description="March"))
    with at(2026, 4, 1):
        points.burn_from_member(session, member, 120, actor=org.actor, reason=Reason(description="reward"))
    wallet = ledger.member_wallet(session, account, member.id)
    session.refresh(wallet)
    assert wallet.balance == 30 == lots_total(session, wallet.id)
    with at(2026, 12, 1):
        soon = expiry.expiring(session, wallet.id, within=dt.timedelta(days=120))
        # January's lot was spent first; what is left of March's expires in March.
        assert [(s["expiresAt"].date(), s["points"]) for s in soon] == [(dt.date(2027, 3, 5), 30)]
    with at(2027, 1, 11):
        assert jobs.expire_points(session) == 0  # January's points were already spent
    with at(2027, 3, 6):
        assert jobs.expire_points(session) == 30
        assert jobs.expire_points(session) == 0  # nothing twice
    session.refresh(wallet)
    assert wallet.balance == 0 and lots_total(session, wallet.id) == 0
    tx = session.scalars(select(ledger.LedgerTransaction).where(ledger.LedgerTransaction.tags.is_not(None))
                         .order_by(ledger.LedgerTransaction.id.desc())).first()
    assert tx.description == "Points expired" and tx.amount == 30


def test_expiry_takes_only_the_expired_lot(session, org):
    account = expiring_account(session, org, months=6)
    member = factories.make_member(session, org)
    with at(2026, 1, 1):
        points.mint_to_member(session, member, 100, actor=org.actor, reason=Reason())
    with at(2026, 5, 1):
        points.mint_to_member(session, member, 40, actor=org.actor, reason=Reason())
    with at(2026, 7, 2):
        assert jobs.expire_points(session) == 100
    wallet = ledger.member_wallet(session, account, member.id)
    session.refresh(wallet)
    assert wallet.balance == 40 == lots_total(session, wallet.id)
    totals = ledger.totals(session, account.id)
    assert totals["minted"] - totals["burned"] == totals["memberBalances"]


def test_points_of_a_locked_member_still_expire(session, org):
    """Expiry is the programme's rule, not the member's act: a locked account does not stop it."""
    account = expiring_account(session, org, months=6)
    member = factories.make_member(session, org)
    with at(2026, 1, 1):
        points.mint_to_member(session, member, 70, actor=org.actor, reason=Reason())
    from portal.domain.members import update_member
    update_member(session, member, actor=org.actor, account_status="LOCKED")
    with at(2026, 7, 2):
        assert jobs.expire_points(session) == 70
    wallet = ledger.member_wallet(session, account, member.id)
    session.refresh(wallet)
    assert wallet.balance == 0 == lots_total(session, wallet.id)
    assert ledger.totals(session, account.id)["burned"] == 70


def test_transfers_move_lots_between_wallets(session, org):
    account = expiring_account(session, org)
    a, b = factories.make_member(session, org), factories.make_member(session, org)
    wa, wb = ledger.member_wallet(session, account, a.id), ledger.member_wallet(session, account, b.id)
    ledger.mint(session, account, wa, 80, actor=org.actor)
    ledger.transfer(session, account, wa, wb, 30, actor=org.actor)
    assert lots_total(session, wa.id) == 50 and lots_total(session, wb.id) == 30


def test_manual_tier_falls_back_when_its_expiry_passes(session, org):
    bronze, silver, gold = factories.make_tiers(session, org)
    member = factories.make_member(session, org)
    tier_account = session.get(LedgerAccount, org.program.tier_points_account_id)
    ledger.mint(session, tier_account, ledger.member_wallet(session, tier_account, member.id), 600, actor=org.actor)
    assert tiers.current_tier(session, member.id, org.program.id)[0].id == silver.id
    with at(2026, 11, 1):
        tiers.set_tier(session, member.id, org.program, gold, actor=org.actor,
                       expires_at=dt.datetime(2026, 11, 10, tzinfo=UTC))
    with at(2026, 11, 9):
        assert jobs.expire_tiers(session) == 0
    with at(2026, 11, 11):
        assert jobs.expire_tiers(session) == 1
    tier, state = tiers.current_tier(session, member.id, org.program.id)
    assert tier.id == silver.id and state.source == "auto" and state.expires_at is None
    assert tiers.history(session, member.id, org.program.id)[0].reason == "tier expired"


def test_birthday_campaign_rewards_once_a_year(session, org):
    campaign = campaigns.create_campaign(session, org.id, code="BDAY", name="Happy birthday",
                                         event_type=earning.BIRTHDAY, actor=org.actor)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "fixed", "points": 200, "tierPoints": False}])
    born_today = factories.make_member(session, org, birthDate="1990-11-23")
    other = factories.make_member(session, org, birthDate="1990-11-24")
    leapling = factories.make_member(session, org, birthDate="2000-02-29")
    assert jobs.reward_birthdays(session, today=dt.date(2026, 11, 23)) == 1
    assert jobs.reward_birthdays(session, today=dt.date(2026, 11, 23)) == 0
    assert factories.wallet_of(session, org, born_today).balance == 200
    assert factories.wallet_of(session, org, other).balance == 0
    assert jobs.reward_birthdays(session, today=dt.date(2027, 2, 28)) == 1
    session.refresh(factories.wallet_of(session, org, leapling))
    assert factories.wallet_of(session, org, leapling).balance == 200


def test_outbox_is_drained_once(session, org):
    factories.make_member(session, org)
    pending = session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.processed_at.is_(None)))
    assert pending > 0
    assert jobs.drain_outbox(session) >= pending
    assert jobs.drain_outbox(session) == 0
