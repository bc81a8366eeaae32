"""Missions and stamp cards: goals, repetitions, periods, matchers, idempotent increments."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
import time_machine
from sqlalchemy import func, select

from portal.domain import earning, custom_events, missions
from portal.domain.errors import DuplicateValue, IdempotencyKeyReused, ValidationFailed
from portal.domain.outbox import OutboxEvent
from portal.domain.ledger import LedgerTransaction
from portal.domain.missions import MissionNotAvailable, MissionProgress
from portal.domain.orders import ItemInput, OrderInput, record_order
from portal.domain.rules import RuleSyntaxError
from tests import factories

from .conftest import fails_cleanly, row_counts

UTC = dt.timezone.utc


def balance(session, org, member) -> int:
    wallet = factories.wallet_of(session, org, member)
    session.refresh(wallet)
    return wallet.balance


def purchase(session, org, member, total="10.00", *, location="BER-01", category="coffee", at=None):
    """A confirmed-purchase event straight into the engine; the order is an unsaved stand-in."""
    item = SimpleNamespace(sku="X", quantity=1, unit_price=Decimal(total), product_category_code=category,
                           is_discount=False)
    order = SimpleNamespace(external_id="o", type="purchase", status="confirmed", total=Decimal(total),
                            discounted_total=None, location_code=location, currency="EUR", items=[item])
    event = earning.LoyaltyEvent(organization_id=org.id, member=member, event_type=earning.PURCHASE_CONFIRMED,
                                payload={"total": total}, order=order, location_code=location,
                                **({"occurred_at": at} if at else {}))
    return earning.dispatch(session, event, actor=org.actor)


def mission(session, org, **fields):
    fields.setdefault("name", "Coffee lover")
    fields.setdefault("event_type", earning.PURCHASE_CONFIRMED)
    fields.setdefault("goal_count", 3)
    return missions.create_mission(session, org.id, actor=org.actor, **fields)


def effects_of(evaluation, kind):
    return [e for e in evaluation.effects if e.type == kind]


@pytest.fixture
def member(session, org):
    return factories.make_member(session, org, givenName="Mia")


# --- defining ----------------------------------------------------------------------------------

def test_matcher_is_parsed_when_saved_and_errors_name_line_and_column(session, org):
    good = mission(session, org, matcher='order.total >= 20 and order.location in ["BER-01"]')
    assert good.matcher_ast["type"] == "logical"
    with fails_cleanly(session, RuleSyntaxError) as info:
        mission(session, org, code="BAD", matcher="order.total >=\n  and 5")
    assert info.value.field == "matcher"
    assert "line 2, column 3" in info.value.message
    assert session.scalar(select(func.count()).select_from(missions.Mission).where(
        missions.Mission.code == "BAD")) == 0


@pytest.mark.parametrize("fields, field", [
    ({"goal_count": 0}, "goalCount"),
    ({"max_repetitions": 0}, "maxRepetitions"),
    ({"period_limit": 2}, "periodLimit"),  # a period limit without a period
    ({"repetition_period": "year"}, "repetitionPeriod"),
    ({"event_type": "no-such-event"}, "eventType"),
    ({"kind": "badge"}, "kind"),
    ({"points_on_completion": -5}, "pointsOnCompletion"),
    ({"valid_from": dt.datetime(2026, 2, 1, tzinfo=UTC), "valid_to": dt.datetime(2026, 1, 1, tzinfo=UTC)},
     "validTo"),
])
def test_invalid_definitions_name_the_field(session, org, fields, field):
    with fails_cleanly(session, ValidationFailed) as info:
        mission(session, org, **fields)
    assert info.value.field == field


def test_a_custom_event_type_must_exist_and_be_active(session, org):
    review = custom_events.create_event_type(session, org.id, name="app-review-written", actor=org.actor)
    assert mission(session, org, event_type="app-review-written").event_type == "app-review-written"
    custom_events.update_event_type(session, review, actor=org.actor, active=False)
    with fails_cleanly(session, ValidationFailed) as info:
        mission(session, org, code="LATER", event_type="app-review-written")
    assert info.value.field == "eventType"


def test_codes_are_unique_per_organisation(session, org, other_org):
    mission(session, org, code="COFFEE3")
    assert mission(session, other_org, code="COFFEE3").code == "COFFEE3"
    with fails_cleanly(session, DuplicateValue) as info:
        mission(session, org, code="COFFEE3")
    assert info.value.field == "code"


# --- counting toward the goal -------------------------------------------------------------------------

def test_goal_completes_once_mints_points_and_emits_mission_status_updated(session, org, member):
    m = mission(session, org, goal_count=3, points_on_completion=50, max_repetitions=1)
    first, second = purchase(session, org, member), purchase(session, org, member)
    assert not effects_of(first, "mission_completed") and not effects_of(second, "mission_completed")
    assert effects_of(second, "increment_mission")[0].details["counter"] == 2
    third = purchase(session, org, member)
    [done] = effects_of(third, "mission_completed")
    assert done.points == 50 and done.source == f"mission:{m.id}" and done.ledger_transaction_id
    tx = session.get(LedgerTransaction, done.ledger_transaction_id)
    assert tx.amount == 50 and "Coffee lover" in tx.description and "mission" in tx.tags
    assert balance(session, org, member) == 50
    emitted = session.scalars(select(OutboxEvent).where(OutboxEvent.member_id == member.id,
                                                        OutboxEvent.event_type == "mission-status-updated")).all()
    assert [(e.payload["missionId"], e.payload["status"], e.payload["points"]) for e in emitted] == \
        [(m.id, "completed", 50)]
    # maxRepetitions 1: more purchases count nothing and pay nothing.
    for _ in range(4):
        later = purchase(session, org, member)
        assert not effects_of(later, "increment_mission")
        assert effects_of(later, "mission_limit_reached")[0].details["reason"] == "maxRepetitions reached"
    assert balance(session, org, member) == 50
    progress = missions.progress_of(session, member, m)
    assert (progress.counter, progress.completions, progress.available) == (0, 1, False)


def test_max_repetitions_allows_exactly_that_many_completions(session, org, member):
    m = mission(session, org, goal_count=2, points_on_completion=10, max_repetitions=3)
    completed = sum(len(effects_of(purchase(session, org, member), "mission_completed")) for _ in range(12))
    assert completed == 3
    assert balance(session, org, member) == 30
    assert missions.progress_of(session, member, m).completions == 3


def test_unlimited_mission_keeps_completing(session, org, member):
    mission(session, org, goal_count=2, points_on_completion=5)
    for _ in range(9):
        purchase(session, org, member)
    assert balance(session, org, member) == 20  # 4 completions, one stamp toward the fifth


def test_inactive_or_expired_missions_count_nothing(session, org, member):
    mission(session, org, code="OFF", goal_count=1, points_on_completion=10, active=False)
    mission(session, org, code="OLD", goal_count=1, points_on_completion=10,
            valid_to=dt.datetime(2020, 1, 1, tzinfo=UTC))
    mission(session, org, code="SOON", goal_count=1, points_on_completion=10,
            valid_from=dt.datetime(2099, 1, 1, tzinfo=UTC))
    evaluation = purchase(session, org, member)
    assert not effects_of(evaluation, "increment_mission")
    assert balance(session, org, member) == 0


def test_other_event_types_do_not_count(session, org, member):
    m = mission(session, org, goal_count=1, points_on_completion=10, event_type=earning.COUPON_USED)
    purchase(session, org, member)
    assert missions.progress_of(session, member, m).completions == 0
    earning.dispatch(session, earning.LoyaltyEvent(organization_id=org.id, member=member,
                                                 event_type=earning.COUPON_USED), actor=org.actor)
    assert missions.progress_of(session, member, m).completions == 1


def test_another_organisations_events_do_not_count(session, org, other_org, member):
    m = mission(session, org, goal_count=1)
    stranger = factories.make_member(session, other_org)
    purchase(session, other_org, stranger)
    assert session.scalar(select(func.count()).select_from(MissionProgress)
                          .where(MissionProgress.mission_id == m.id)) == 0


# --- matchers ----------------------------------------------------------------------------------------------

def test_matcher_filters_events(session, org, member):
    m = mission(session, org, goal_count=2, points_on_completion=25,
                matcher='order.total >= 20 and any(item.category == "coffee" for item in order.items)')
    purchase(session, org, member, "25.00", category="tea")      # wrong category
    purchase(session, org, member, "5.00")                        # too small
    assert missions.progress_of(session, member, m).counter == 0
    purchase(session, org, member, "25.00")
    purchase(session, org, member, "30.00")
    assert balance(session, org, member) == 25


def test_matcher_sees_the_member_and_the_order_of_a_real_purchase(session, org, member):
    bronze, silver, gold = factories.make_tiers(session, org)
    from portal.domain import tiers
    tiers.set_tier(session, member.id, org.program, gold, actor=org.actor)
    m = mission(session, org, goal_count=1, points_on_completion=7,
                matcher='member.tier == "gold" and order.location == "HAM-02"')
    record_order(session, member, OrderInput(external_id="o-1", status="confirmed", total=Decimal("12.00"),
                                             location_code="BER-01", items=[ItemInput(
                                                 sku="A", quantity=1, unit_price=Decimal("12.00"))]),
                 actor=org.actor)
    assert missions.progress_of(session, member, m).completions == 0
    record_order(session, member, OrderInput(external_id="o-2", status="confirmed", total=Decimal("12.00"),
                                             location_code="HAM-02", items=[ItemInput(
                                                 sku="A", quantity=1, unit_price=Decimal("12.00"))]),
                 actor=org.actor)
    assert missions.progress_of(session, member, m).completions == 1


def test_a_matcher_that_cannot_be_evaluated_is_reported_not_raised(session, org, member):
    m = mission(session, org, goal_count=1, matcher="order.total + 'x' > 3")
    evaluation = purchase(session, org, member)
    assert evaluation.errors and evaluation.errors[0]["source"] == f"mission:{m.id}"
    assert missions.progress_of(session, member, m).counter == 0


# --- repetition periods -----------------------------------------------------------------------------------

def test_daily_period_limit_across_days(session, org, member):
    m = mission(session, org, goal_count=2, points_on_completion=10, repetition_period="day", period_limit=1)
    day = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
    with time_machine.travel(day, tick=False):
        completions = [len(effects_of(purchase(session, org, member), "mission_completed")) for _ in range(5)]
    assert completions == [0, 1, 0, 0, 0]
    with time_machine.travel(day + dt.timedelta(hours=14), tick=False):  # 23:00 the same day
        assert effects_of(purchase(session, org, member), "mission_limit_reached")
    with time_machine.travel(day + dt.timedelta(days=1), tick=False):
        # Progress does not carry over: the next day starts at 0.
        assert missions.progress_of(session, member, m).counter == 0
        completions = [len(effects_of(purchase(session, org, member), "mission_completed")) for _ in range(3)]
    assert completions == [0, 1, 0]
    assert balance(session, org, member) == 20


def test_weekly_period_uses_iso_weeks_and_max_repetitions_still_applies(session, org, member):
    mission(session, org, goal_count=1, points_on_completion=10, repetition_period="week", period_limit=2,
            max_repetitions=5)
    monday = dt.datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    paid_by_week = []
    for week in range(4):
        before = balance(session, org, member)
        for day in range(7):  # one purchase a day, Monday to Sunday
            with time_machine.travel(monday + dt.timedelta(weeks=week, days=day), tick=False):
                purchase(session, org, member)
        paid_by_week.append(balance(session, org, member) - before)
    assert paid_by_week == [20, 20, 10, 0]  # 2 + 2 + 1 = maxRepetitions 5


def test_monthly_period_limit_across_a_year_boundary(session, org, member):
    m = mission(session, org, kind="stampcard", goal_count=5, points_on_completion=100, repetition_period="month",
                period_limit=1)
    start = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    for day in range(60):  # 20 Nov 2026 .. 18 Jan 2027, a stamp a day
        with time_machine.travel(start + dt.timedelta(days=day), tick=False):
            purchase(session, org, member)
    assert balance(session, org, member) == 300  # one card each in November, December, January
    rows = session.scalars(select(MissionProgress).where(MissionProgress.mission_id == m.id)
                           .order_by(MissionProgress.period_key)).all()
    assert [(r.period_key, r.completions) for r in rows] == [
        ("2026-11", 1), ("2026-12", 1), ("2027-01", 1), ("all", 3)]


def test_period_keys():
    moment = dt.datetime(2027, 1, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))  # 2 Jan 01:30 UTC
    assert missions.period_key("day", moment) == "2027-01-02"
    assert missions.period_key("week", moment) == "2026-W53"
    assert missions.period_key("month", moment) == "2027-01"
    assert missions.period_key("none", moment) == "all"


# --- stamp cards and manual increments ------------------------------------------------------------------

def test_stamp_card_gives_a_stamp_per_event_and_rewards_a_full_card(session, org, member):
    card = mission(session, org, name="Coffee card", kind="stampcard", goal_count=10, points_on_completion=200)
    for stamp in range(1, 10):
        purchase(session, org, member)
        assert missions.progress_of(session, member, card).counter == stamp
    assert balance(session, org, member) == 0
    [done] = effects_of(purchase(session, org, member), "mission_completed")
    assert done.points == 200 and done.details["kind"] == "stampcard"
    progress = missions.progress_of(session, member, card)
    assert (progress.counter, progress.completions, progress.remaining) == (0, 1, 10)


def test_manual_increment_by_more_than_one_completes_several_times_within_limits(session, org, member):
    m = mission(session, org, goal_count=3, points_on_completion=10, max_repetitions=2)
    effects = missions.increment(session, member, m, 2, actor=org.actor)
    assert [e.type for e in effects] == ["increment_mission"]
    effects = missions.increment(session, member, m, 100, actor=org.actor)
    [done] = [e for e in effects if e.type == "mission_completed"]
    assert done.points == 20 and done.details["completedNow"] == 2
    # Only what led to the last completion counted: 1 + 3 stamps.
    assert effects[0].details["amount"] == 4
    assert balance(session, org, member) == 20
    assert missions.increment(session, member, m, 1, actor=org.actor)[0].type == "mission_limit_reached"


def test_manual_increment_is_idempotent_by_system_unique_key(session, org, member):
    m = mission(session, org, goal_count=2, points_on_completion=10)
    first = missions.record_increment(session, member, m, 2, actor=org.actor, system_unique_key="inc-1")
    counts = row_counts(session)
    replay = missions.record_increment(session, member, m, 2, actor=org.actor, system_unique_key="inc-1")
    assert replay.replayed and not first.replayed
    assert [e.as_dict() for e in replay.effects] == [e.as_dict() for e in first.effects]
    assert row_counts(session) == counts
    assert balance(session, org, member) == 10
    with fails_cleanly(session, IdempotencyKeyReused):
        missions.increment(session, member, m, 3, actor=org.actor, system_unique_key="inc-1")


def test_dry_run_reports_without_writing(session, org, member):
    m = mission(session, org, goal_count=1, points_on_completion=10)
    counts = row_counts(session)
    evaluation = earning.dispatch(session, earning.LoyaltyEvent(
        organization_id=org.id, member=member, event_type=earning.PURCHASE_CONFIRMED), actor=org.actor, dry_run=True)
    [done] = effects_of(evaluation, "mission_completed")
    assert done.points == 10 and done.ledger_transaction_id is None
    assert row_counts(session) == counts
    assert missions.progress_of(session, member, m).completions == 0


def test_increment_of_an_inactive_mission_is_refused(session, org, member):
    m = mission(session, org, goal_count=1, active=False)
    with fails_cleanly(session, MissionNotAvailable):
        missions.increment(session, member, m, 1, actor=org.actor)


def test_increment_is_audited(session, org, member):
    from portal.domain.audit import AuditEntry
    m = mission(session, org, goal_count=5)
    missions.increment(session, member, m, 1, actor=org.actor)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "mission.incremented")).one()
    assert entry.target_id == str(m.id) and entry.details == {"memberId": member.id, "amount": 1}


def test_member_missions_lists_progress(session, org, member):
    a = mission(session, org, code="A", goal_count=3)
    b = mission(session, org, code="B", goal_count=1, max_repetitions=1, points_on_completion=5)
    mission(session, org, code="C", goal_count=1, active=False)
    purchase(session, org, member)
    listed = {p.mission.code: p for p in missions.member_missions(session, member)}
    assert set(listed) == {"A", "B"}
    assert (listed["A"].counter, listed["A"].remaining, listed["A"].available) == (1, 2, True)
    assert (listed["B"].completions, listed["B"].available) == (1, False)
    assert a.id != b.id
