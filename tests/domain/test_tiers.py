"""Tiers: promotion by tier points, never an automatic demotion, manual sets, history."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from portal.domain import ledger, organizations, tiers
from portal.domain.actors import Actor
from portal.domain.errors import DuplicateValue, NotFound, ValidationFailed
from portal.domain.outbox import OutboxEvent
from portal.domain.ledger import LedgerAccount

from ..factories import give_points, make_member, make_tiers
from .conftest import fails_cleanly


@pytest.fixture
def ladder(session, org):
    bronze, silver, gold = make_tiers(session, org)
    return {"bronze": bronze, "silver": silver, "gold": gold}


@pytest.fixture
def member(session, org):
    return make_member(session, org)


def tier_account(session, org) -> LedgerAccount:
    return session.get(LedgerAccount, org.program.tier_points_account_id)


def earn_tier_points(session, org, member, amount):
    account = tier_account(session, org)
    return ledger.mint(session, account, ledger.member_wallet(session, account, member.id), amount, actor=org.actor)


def current(session, org, member):
    tier, _ = tiers.current_tier(session, member.id, org.program.id)
    return tier.name if tier else None


def moves(session, org, member) -> list[tuple]:
    names = {t.id: t.name for t in tiers.tiers_of(session, org.program.id)}
    return [(names.get(h.from_tier_id), names.get(h.to_tier_id), h.source)
            for h in reversed(tiers.history(session, member.id, org.program.id))]


def test_tiers_are_listed_lowest_first(session, org, ladder):
    assert [t.name for t in tiers.tiers_of(session, org.program.id)] == ["Bronze", "Silver", "Gold"]


def test_crossing_a_threshold_promotes(session, org, ladder, member):
    assert current(session, org, member) is None
    earn_tier_points(session, org, member, 100)
    assert current(session, org, member) == "Bronze"
    earn_tier_points(session, org, member, 399)
    assert current(session, org, member) == "Bronze"  # 499: one short of Silver
    earn_tier_points(session, org, member, 1)
    assert current(session, org, member) == "Silver"
    earn_tier_points(session, org, member, 5000)
    assert current(session, org, member) == "Gold"
    assert moves(session, org, member) == [(None, "Bronze", "auto"), ("Bronze", "Silver", "auto"),
                                           ("Silver", "Gold", "auto")]
    events = session.scalars(select(OutboxEvent.event_type).where(OutboxEvent.member_id == member.id,
                                                                  OutboxEvent.event_type == "member-tier-set")).all()
    assert len(events) == 3


def test_a_big_jump_skips_tiers_in_one_step(session, org, ladder, member):
    earn_tier_points(session, org, member, 2000)
    assert current(session, org, member) == "Gold"
    assert moves(session, org, member) == [(None, "Gold", "auto")]


def test_points_in_the_main_account_do_not_count(session, org, ladder, member):
    give_points(session, org, member, 10_000)
    assert current(session, org, member) is None
    assert tiers.tier_points(session, member.id, org.program) == 0


def test_never_demoted_automatically(session, org, ladder, member):
    account = tier_account(session, org)
    wallet = ledger.member_wallet(session, account, member.id)
    earn_tier_points(session, org, member, 1600)
    assert current(session, org, member) == "Gold"
    extra = earn_tier_points(session, org, member, 10)
    ledger.revert(session, extra, actor=org.actor)
    assert current(session, org, member) == "Gold"
    ledger.burn(session, account, wallet, 1500, actor=org.actor)
    assert current(session, org, member) == "Gold"
    earn_tier_points(session, org, member, 10)  # re-evaluated at 110 points: still no demotion
    assert current(session, org, member) == "Gold"
    assert tiers.tier_points(session, member.id, org.program) == 110
    assert len(moves(session, org, member)) == 1


def test_a_pending_mint_promotes_only_when_captured(session, org, ladder, member):
    account = tier_account(session, org)
    hold = ledger.mint(session, account, ledger.member_wallet(session, account, member.id), 600, actor=org.actor,
                       pending=True)
    assert current(session, org, member) is None
    ledger.capture(session, hold, actor=org.actor)
    assert current(session, org, member) == "Silver"


def test_transfer_of_tier_points_promotes_the_receiver(session, org, ladder, member):
    other = make_member(session, org)
    account = tier_account(session, org)
    earn_tier_points(session, org, other, 700)
    ledger.transfer(session, account, ledger.member_wallet(session, account, other.id),
                    ledger.member_wallet(session, account, member.id), 600, actor=org.actor)
    assert current(session, org, member) == "Silver"
    assert current(session, org, other) == "Silver"  # 100 left: kept


def test_manual_set_with_expiry_and_history(session, org, ladder, member):
    staff = Actor(kind="staff", id=7, organization_id=org.id, label="boss@example.com", roles=frozenset({"admin"}))
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)
    state = tiers.set_tier(session, member.id, org.program, ladder["gold"], actor=staff, expires_at=until,
                           reason="VIP guest")
    assert (state.source, state.tier_id) == ("manual", ladder["gold"].id)
    assert abs(state.expires_at - until) < dt.timedelta(seconds=1)
    row = tiers.history(session, member.id, org.program.id)[0]
    assert (row.from_tier_id, row.to_tier_id, row.source, row.reason) == (None, ladder["gold"].id, "manual",
                                                                          "VIP guest")
    assert (row.actor_kind, row.actor_id) == ("staff", 7)
    assert abs(row.expires_at - until) < dt.timedelta(seconds=1)
    # Points below Gold do not pull a manual Gold down.
    earn_tier_points(session, org, member, 600)
    assert current(session, org, member) == "Gold"
    # Removing the tier by hand is recorded as well.
    tiers.set_tier(session, member.id, org.program, None, actor=staff, reason="end of trial")
    assert current(session, org, member) is None
    assert moves(session, org, member) == [(None, "Gold", "manual"), ("Gold", None, "manual")]


def test_a_lower_manual_tier_is_promoted_by_points(session, org, ladder, member):
    tiers.set_tier(session, member.id, org.program, ladder["bronze"], actor=org.actor)
    earn_tier_points(session, org, member, 1500)
    assert current(session, org, member) == "Gold"
    _, state = tiers.current_tier(session, member.id, org.program.id)
    assert state.source == "auto" and state.expires_at is None


def test_expiry_must_be_in_the_future(session, org, ladder, member):
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    with fails_cleanly(session, ValidationFailed) as error:
        tiers.set_tier(session, member.id, org.program, ladder["gold"], actor=org.actor, expires_at=past)
    assert error.value.field == "expiresAt"
    assert tiers.history(session, member.id, org.program.id) == []


def test_a_tier_of_another_programme_is_refused(session, org, ladder, member):
    second = organizations.create_loyalty_program(session, org.org, name="Second")
    foreign = tiers.create_tier(session, second, name="Platinum", min_points=10, actor=org.actor)
    with fails_cleanly(session, NotFound):
        tiers.set_tier(session, member.id, org.program, foreign, actor=org.actor)
    with fails_cleanly(session, NotFound):
        tiers.get_tier(session, org.id, foreign.id, org.program.id)


def test_tiers_of_another_organisation_are_not_found(session, org, other_org, ladder):
    with fails_cleanly(session, NotFound):
        tiers.get_tier(session, other_org.id, ladder["gold"].id)


def test_each_programme_promotes_on_its_own_tier_points(session, org, ladder, member):
    second = organizations.create_loyalty_program(session, org.org, name="Second")
    tiers.create_tier(session, second, name="Star", min_points=50, actor=org.actor)
    account = session.get(LedgerAccount, second.tier_points_account_id)
    ledger.mint(session, account, ledger.member_wallet(session, account, member.id), 60, actor=org.actor)
    assert tiers.current_tier(session, member.id, second.id)[0].name == "Star"
    assert current(session, org, member) is None


@pytest.mark.parametrize("change, field", [({"name": "Silver", "min_points": 700}, "name"),
                                           ({"name": "Platinum", "min_points": 500}, "minPoints"),
                                           ({"name": "Negative", "min_points": -1}, "minPoints")])
def test_tier_names_and_thresholds_are_unique_and_valid(session, org, ladder, change, field):
    with fails_cleanly(session, (DuplicateValue, ValidationFailed)) as error:
        tiers.create_tier(session, org.program, actor=org.actor, **change)
    assert error.value.field == field


def test_update_tier_keeps_thresholds_unique(session, org, ladder):
    with fails_cleanly(session, DuplicateValue):
        tiers.update_tier(session, ladder["gold"], actor=org.actor, min_points=500)
    with fails_cleanly(session, DuplicateValue):
        tiers.update_tier(session, ladder["gold"], actor=org.actor, name="Silver")
    tiers.update_tier(session, ladder["gold"], actor=org.actor, min_points=2000, name="Gold+")
    assert [(t.name, t.min_points) for t in tiers.tiers_of(session, org.program.id)][-1] == ("Gold+", 2000)


def test_progress_names_the_next_tier(session, org, ladder, member):
    earn_tier_points(session, org, member, 700)
    progress = tiers.progress(session, member.id, org.program)
    assert progress["tier"].name == "Silver" and progress["nextTier"].name == "Gold"
    assert (progress["tierPoints"], progress["pointsToNext"]) == (700, 800)
    earn_tier_points(session, org, member, 800)
    progress = tiers.progress(session, member.id, org.program)
    assert progress["tier"].name == "Gold" and progress["nextTier"] is None and progress["pointsToNext"] == 0


def test_a_tier_set_until_a_day_holds_to_the_end_of_that_day_where_the_organisation_is(session, org):
    day = dt.date(2027, 1, 15)
    assert tiers.end_of_day(session, org.id, day) == dt.datetime(2027, 1, 15, 23, 59, 59, tzinfo=dt.timezone.utc)
    session.get(organizations.Organization, org.id).timezone = "Europe/Berlin"
    assert tiers.end_of_day(session, org.id, day) == dt.datetime(2027, 1, 15, 22, 59, 59, tzinfo=dt.timezone.utc)
    assert tiers.end_of_day(session, org.id, dt.date(2027, 7, 15)) == dt.datetime(
        2027, 7, 15, 21, 59, 59, tzinfo=dt.timezone.utc)  # summer time
