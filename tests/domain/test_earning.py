"""Campaigns, rules and effects, and the purchase-order lifecycle."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from portal.domain import campaigns, earning, orders, tiers
from portal.domain.errors import NotFound, ValidationFailed
from portal.domain.ledger import LedgerAccount
from portal.domain.orders import ItemInput, OrderInput
from portal.domain.rules import RuleSyntaxError
from tests import factories

UTC = dt.timezone.utc


def balance(session, org, member, tier_points=False):
    account_id = org.program.tier_points_account_id if tier_points else org.program.points_account_id
    wallet = factories.wallet_of(session, org, member) if not tier_points else None
    if tier_points:
        from portal.domain import ledger
        wallet = ledger.member_wallet(session, session.get(LedgerAccount, account_id), member.id)
    session.refresh(wallet)
    return wallet.balance


def order(external_id, total, status="confirmed", location="BER-01", items=None, **extra):
    items = items if items is not None else [ItemInput(sku="LATTE", quantity=1, unit_price=Decimal(total),
                                                       product_category_code="coffee")]
    return OrderInput(external_id=external_id, status=status, total=Decimal(total), items=items,
                      location_code=location, **extra)


def base_campaign(session, org, **fields):
    campaign = campaigns.create_campaign(session, org.id, code=fields.pop("code", "BASE"), name="Earn 1 per euro",
                                         actor=org.actor, **fields)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=["order.total > 0"],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"}])
    return campaign


# --- the Saturday campaign across a month ---------------------------------------------------

def test_saturday_gold_campaign_at_two_locations_with_monthly_cap_across_a_month(session, org):
    bronze, silver, gold = factories.make_tiers(session, org)
    campaign = campaigns.create_campaign(
        session, org.id, code="SAT-GOLD", name="Gold Saturdays", actor=org.actor, days_of_week=["saturday"],
        location_codes=["BER-01", "HAM-02"], tier_ids=[gold.id], monthly_points_cap=500, timezone="Europe/Berlin")
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=["order.total >= 10"],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 2, "per": "1",
                                   "tierPoints": False}])
    gold_member = factories.make_member(session, org)
    silver_member = factories.make_member(session, org)
    tiers.set_tier(session, gold_member.id, org.program, gold, actor=org.actor)
    tiers.set_tier(session, silver_member.id, org.program, silver, actor=org.actor)

    awarded_by_day = {}
    day = dt.datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    while day.month == 11:
        with time_machine.travel(day, tick=False):
            for location in ("BER-01", "HAM-02", "MUC-03"):
                result = orders.record_order(session, gold_member, order(f"g-{day:%d}-{location}", "60.00",
                                                                         location=location), actor=org.actor)
                awarded_by_day[(day.day, location)] = result.order.points_awarded
                silver = orders.record_order(session, silver_member, order(f"s-{day:%d}-{location}", "60.00",
                                                                           location=location), actor=org.actor)
                assert silver.order.points_awarded == 0
        day += dt.timedelta(days=1)

    saturdays = [7, 14, 21, 28]
    # 120 points per qualifying order: 7 Nov gives 240, 14 Nov 240, 21 Nov the last 20 (cap 500), then nothing.
    assert awarded_by_day[(7, "BER-01")] == 120 and awarded_by_day[(7, "HAM-02")] == 120
    assert awarded_by_day[(14, "BER-01")] == 120 and awarded_by_day[(14, "HAM-02")] == 120
    assert awarded_by_day[(21, "BER-01")] == 20 and awarded_by_day[(21, "HAM-02")] == 0
    assert all(awarded_by_day[(d, "MUC-03")] == 0 for d in saturdays)
    assert all(points == 0 for (d, _), points in awarded_by_day.items() if d not in saturdays)
    assert balance(session, org, gold_member) == 500
    assert balance(session, org, silver_member) == 0

    # A new month resets the cap.
    with time_machine.travel(dt.datetime(2026, 12, 5, 10, 0, tzinfo=UTC), tick=False):
        result = orders.record_order(session, gold_member, order("g-dec", "60.00"), actor=org.actor)
    assert result.order.points_awarded == 120
    assert balance(session, org, gold_member) == 620


def test_days_of_week_follow_the_campaign_timezone(session, org):
    base_campaign(session, org, code="SUN", days_of_week=["sunday"], timezone="Pacific/Auckland")
    member = factories.make_member(session, org)
    # Saturday 20:00 UTC is already Sunday morning in Auckland.
    with time_machine.travel(dt.datetime(2026, 11, 7, 20, 0, tzinfo=UTC), tick=False):
        result = orders.record_order(session, member, order("tz-1", "10.00"), actor=org.actor)
    assert result.order.points_awarded == 10


def test_min_spend_validity_and_inactive_campaigns(session, org):
    base_campaign(session, org, code="MIN", min_spend=Decimal("50"),
                  valid_from=dt.datetime(2026, 1, 1, tzinfo=UTC), valid_to=dt.datetime(2027, 1, 1, tzinfo=UTC))
    inactive = base_campaign(session, org, code="OFF")
    campaigns.update_campaign(session, inactive, actor=org.actor, active=False)
    member = factories.make_member(session, org)
    with time_machine.travel(dt.datetime(2026, 6, 1, tzinfo=UTC), tick=False):
        assert orders.record_order(session, member, order("m1", "49.99"), actor=org.actor).order.points_awarded == 0
        assert orders.record_order(session, member, order("m2", "50.00"), actor=org.actor).order.points_awarded == 50
    with time_machine.travel(dt.datetime(2027, 2, 1, tzinfo=UTC), tick=False):
        assert orders.record_order(session, member, order("m3", "80.00"), actor=org.actor).order.points_awarded == 0


def test_audience_constraint(session, org):
    from portal.domain import audiences

    berlin = audiences.create_audience(session, org.id, name="Berliners", rule='member.city == "Berlin"',
                                       actor=org.actor)
    base_campaign(session, org, audience_ids=[berlin.id])
    in_berlin = factories.make_member(session, org, city="Berlin")
    elsewhere = factories.make_member(session, org, city="Bonn")
    assert orders.record_order(session, in_berlin, order("a1", "20"), actor=org.actor).order.points_awarded == 20
    assert orders.record_order(session, elsewhere, order("a2", "20"), actor=org.actor).order.points_awarded == 0


# --- effects ---------------------------------------------------------------------------

def test_effects_fixed_per_currency_rounding_categories_and_multiplier(session, org):
    campaign = campaigns.create_campaign(session, org.id, code="MIX", name="Mix", actor=org.actor)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "fixed", "points": 5}])
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 3, "per": "2",
                                   "rounding": "up", "categories": ["coffee"]}])
    campaigns.add_action(session, campaign, actor=org.actor,
                         rules_text=['any(item.category == "coffee" for item in order.items)'],
                         effects=[{"type": "award_points", "mode": "multiplier", "multiplier": "1.5"}])
    member = factories.make_member(session, org)
    items = [ItemInput(sku="LATTE", quantity=2, unit_price=Decimal("3.50"), product_category_code="coffee"),
             ItemInput(sku="CAKE", quantity=1, unit_price=Decimal("4.00"), product_category_code="bakery"),
             ItemInput(sku="VOUCHER", quantity=1, unit_price=Decimal("-2.00"), is_discount=True)]
    result = orders.record_order(session, member, order("fx", "9.00", items=items), actor=org.actor)
    # fixed 5; coffee 7.00 / 2 = 3.5 -> up 4 units x 3 = 12; multiplier 1.5 on 17 -> +8 (floor)
    assert [e.points for e in result.evaluation.effects] == [5, 12, 8]
    assert result.order.points_awarded == 25
    assert balance(session, org, member, tier_points=True) == 25


def test_discount_lines_never_earn(session, org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    items = [ItemInput(sku="A", quantity=1, unit_price=Decimal("20"), product_category_code="x"),
             ItemInput(sku="DISC", quantity=1, unit_price=Decimal("-5"), is_discount=True)]
    result = orders.record_order(session, member, order("d1", "20.00", items=items, discounted_total=Decimal("15")),
                                 actor=org.actor)
    assert result.order.points_awarded == 15


def test_abort_on_false_and_abort_on_error(session, org):
    campaign = campaigns.create_campaign(session, org.id, code="ABORT", name="Abort", actor=org.actor)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=["order.total > 100"], abort_on_false=True,
                         effects=[{"type": "award_points", "mode": "fixed", "points": 1}])
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "fixed", "points": 50}])
    erring = campaigns.create_campaign(session, org.id, code="ERR", name="Err", actor=org.actor)
    campaigns.add_action(session, erring, actor=org.actor, rules_text=['order.location > 5'], abort_on_error=False,
                         effects=[{"type": "award_points", "mode": "fixed", "points": 1}])
    campaigns.add_action(session, erring, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "fixed", "points": 7}])
    member = factories.make_member(session, org)
    result = orders.record_order(session, member, order("ab", "10"), actor=org.actor)
    assert result.order.points_awarded == 7
    assert result.evaluation.errors and result.evaluation.errors[0]["campaignId"] == erring.id


def test_set_tier_and_emit_event_effects(session, org):
    bronze, silver, gold = factories.make_tiers(session, org)
    campaign = campaigns.create_campaign(session, org.id, code="WELCOME", name="Welcome",
                                         event_type=earning.MEMBER_CREATED, actor=org.actor)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=[], effects=[
        {"type": "set_tier", "tierId": silver.id, "expiresInDays": 30},
        {"type": "award_points", "mode": "fixed", "points": 100, "tierPoints": False},
        {"type": "emit_event", "eventType": "welcome-sent", "payload": {"channel": "mail"}}])
    from portal.domain import enrolment
    from portal.domain.outbox import OutboxEvent

    member, evaluation = enrolment.enrol_member(session, org.id, actor=org.actor, profile={"email": "w@example.com"})
    assert [e.type for e in evaluation.effects] == ["set_tier", "award_points", "emit_event"]
    tier, state = tiers.current_tier(session, member.id, org.program.id)
    assert tier.id == silver.id and state.expires_at is not None
    assert balance(session, org, member) == 100
    assert session.scalar(select(OutboxEvent.id).where(OutboxEvent.event_type == "welcome-sent",
                                                       OutboxEvent.member_id == member.id))


def test_history_says_which_campaign_and_action_gave_points(session, org):
    campaign = base_campaign(session, org)
    member = factories.make_member(session, org)
    result = orders.record_order(session, member, order("why", "12"), actor=org.actor)
    rows = campaigns.evaluations_for_order(session, result.order.id)
    assert len(rows) == 1 and rows[0].campaign_id == campaign.id and rows[0].points == 12
    from portal.domain import ledger
    tx = session.get(ledger.LedgerTransaction, rows[0].ledger_transaction_id)
    assert tx.description == "Earn 1 per euro" and "campaign:BASE" in tx.tags and tx.external_id == "why"


@pytest.mark.parametrize("effect,field", [
    ({"type": "award_points", "mode": "weird"}, "effects[0].mode"),
    ({"type": "award_points", "mode": "fixed", "points": 0}, "effects[0].points"),
    ({"type": "award_points", "mode": "per_currency", "points": 1, "per": "0"}, "effects[0].per"),
    ({"type": "set_tier", "tierId": 999999}, "effects[0].tierId"),
    ({"type": "launch_rockets"}, "effects[0].type"),
])
def test_bad_effects_are_refused_when_saved(session, org, effect, field):
    campaign = campaigns.create_campaign(session, org.id, code="BAD", name="Bad", actor=org.actor)
    with pytest.raises((ValidationFailed, NotFound)) as caught:
        campaigns.add_action(session, campaign, actor=org.actor, rules_text=[], effects=[effect])
    assert field in caught.value.errors


def test_bad_rules_are_refused_when_saved_with_position(session, org):
    campaign = campaigns.create_campaign(session, org.id, code="BADR", name="Bad", actor=org.actor)
    with pytest.raises(RuleSyntaxError) as caught:
        campaigns.add_action(session, campaign, actor=org.actor, rules_text=["order.total > 1", "order.total >"],
                             effects=[])
    assert "rules[1]" in caught.value.errors and caught.value.column == 14


# --- the order lifecycle ----------------------------------------------------------------

def test_confirm_partial_return_full_return_and_retries(session, org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    first = orders.record_order(session, member, order("life", "100.00"), actor=org.actor)
    assert first.order.points_awarded == 100 and balance(session, org, member) == 100
    retry = orders.record_order(session, member, order("life", "100.00"), actor=org.actor)
    assert not retry.changed and balance(session, org, member) == 100

    partial = order("life", "100.00", status="partially-returned", returned_total=Decimal("25.00"))
    assert orders.record_order(session, member, partial, actor=org.actor).points_taken_back == 25
    assert orders.record_order(session, member, partial, actor=org.actor).points_taken_back == 0
    assert balance(session, org, member) == 75

    more = order("life", "100.00", status="partially-returned", returned_total=Decimal("60.00"))
    assert orders.record_order(session, member, more, actor=org.actor).points_taken_back == 35
    assert balance(session, org, member) == 40

    full = order("life", "100.00", status="returned")
    assert orders.record_order(session, member, full, actor=org.actor).points_taken_back == 40
    assert orders.record_order(session, member, full, actor=org.actor).points_taken_back == 0
    assert balance(session, org, member) == 0 and balance(session, org, member, tier_points=True) == 0
    with pytest.raises(orders.OrderAlreadyReturned):
        orders.record_order(session, member, order("life", "100.00"), actor=org.actor)


def test_cancel_takes_everything_back_and_spent_points_become_debt(session, org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    orders.record_order(session, member, order("spent", "80"), actor=org.actor)
    from portal.domain import points
    from portal.domain.ledger import Reason
    points.burn_from_member(session, member, 50, actor=org.actor, reason=Reason(description="reward"))
    result = orders.record_order(session, member, order("spent", "80", status="cancelled"), actor=org.actor)
    assert result.points_taken_back == 80 and result.debt_recorded == 50
    assert balance(session, org, member) == 0
    assert orders.outstanding_debt(session, member.id) == 50
    again = orders.record_order(session, member, order("spent", "80", status="cancelled"), actor=org.actor)
    assert not again.changed and orders.outstanding_debt(session, member.id) == 50


def test_a_return_takes_points_back_from_a_locked_member_too(session, org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    orders.record_order(session, member, order("locked", "30"), actor=org.actor)
    from portal.domain.members import update_member
    update_member(session, member, actor=org.actor, account_status="LOCKED")
    result = orders.record_order(session, member, order("locked", "30", status="returned"), actor=org.actor)
    assert result.points_taken_back == 30 and result.debt_recorded == 0
    assert balance(session, org, member) == 0 and balance(session, org, member, tier_points=True) == 0


def test_created_then_confirmed_awards_once_and_cancelled_created_awards_nothing(session, org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    created = orders.record_order(session, member, order("c1", "30", status="created"), actor=org.actor)
    assert created.order.points_awarded == 0
    updated = orders.record_order(session, member, order("c1", "40", status="created"), actor=org.actor)
    assert updated.order.total == Decimal("40")
    assert orders.record_order(session, member, order("c1", "40"), actor=org.actor).order.points_awarded == 40
    orders.record_order(session, member, order("c2", "30", status="created"), actor=org.actor)
    assert orders.record_order(session, member, order("c2", "30", status="cancelled"),
                               actor=org.actor).order.points_awarded == 0
    assert balance(session, org, member) == 40


def test_an_external_id_belongs_to_one_member(session, org):
    base_campaign(session, org)
    a, b = factories.make_member(session, org), factories.make_member(session, org)
    orders.record_order(session, a, order("shared", "10"), actor=org.actor)
    with pytest.raises(orders.OrderOfAnotherMember):
        orders.record_order(session, b, order("shared", "10"), actor=org.actor)


def test_simulation_writes_nothing(session, org):
    base_campaign(session, org, monthly_points_cap=30)
    member = factories.make_member(session, org)
    from tests.domain.conftest import row_counts
    before = row_counts(session)
    evaluation = orders.simulate(session, member, order("sim", "50"), actor=org.actor)
    assert evaluation.points_awarded == 30
    assert row_counts(session) == before
    assert session.scalar(select(orders.PurchaseOrder.id).where(orders.PurchaseOrder.external_id == "sim")) is None


@pytest.mark.parametrize("data,field", [
    (order("v", "10", status="shipped"), "status"),
    (order("v", "-1"), "total"),
    (order("v", "10", discounted_total=Decimal("11")), "discountedTotal"),
    (order("v", "10", items=[ItemInput(sku="x", quantity=0, unit_price=Decimal(1))]), "items[0].quantity"),
    (order("v", "10", items=[ItemInput(sku="x", quantity=1, unit_price=Decimal(-1))]), "items[0].unitPrice"),
])
def test_order_validation_names_the_field(session, org, data, field):
    member = factories.make_member(session, org)
    with pytest.raises(ValidationFailed) as caught:
        orders.record_order(session, member, data, actor=org.actor)
    assert field in caught.value.errors


def test_extrapoint_and_multiplier_coupons_apply_on_purchase(session, org):
    from portal.domain import coupons

    base_campaign(session, org)
    member = factories.make_member(session, org)
    extra = factories.published_book(session, org, "+50 points", coupons.EXTRAPOINT, discount_amount=50)
    double = factories.published_book(session, org, "Double points", coupons.MULTIPLIER, discount_amount=2)
    coupons.assign_coupons(session, member, extra, actor=org.actor)
    coupons.assign_coupons(session, member, double, actor=org.actor)
    simulated = orders.simulate(session, member, order("cp-sim", "30"), actor=org.actor)
    assert simulated.points_awarded == 30 + 30 + 50
    result = orders.record_order(session, member, order("cp", "30"), actor=org.actor)
    bonus = [e for e in result.evaluation.effects if e.source == "coupons"][0]
    assert bonus.points == 80 and result.order.points_awarded == 110
    assert balance(session, org, member) == 110
    # The coupons were used: the next purchase earns the plain rate.
    again = orders.record_order(session, member, order("cp-2", "30"), actor=org.actor)
    assert again.order.points_awarded == 30


def test_assign_coupon_effect_gives_the_member_a_coupon(session, org):
    from portal.domain import coupons

    book = factories.gift_once_per_member(session, org, "Free cookie", coupons.REWARD, discount_amount=1)
    member = factories.make_member(session, org)
    first = orders.record_order(session, member, order("g1", "5"), actor=org.actor)
    assert first.evaluation.effects[0].details["couponUsageIds"]
    second = orders.record_order(session, member, order("g2", "5"), actor=org.actor)
    assert "refused" in second.evaluation.effects[0].details  # per-member limit 1: no second coupon
    assert coupons.member_coupons(session, member, book_id=book.id).total == 1


def test_mission_effect_counts_and_a_paused_mission_does_not_spoil_the_purchase(session, org):
    from portal.domain import missions

    mission = missions.create_mission(session, org.id, actor=org.actor, name="Five coffees",
                                      event_type=earning.BIRTHDAY, goal_count=2, points_on_completion=40)
    campaign = campaigns.create_campaign(session, org.id, code="STAMP", name="Stamp", actor=org.actor)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=[], effects=[
        {"type": "increment_mission", "missionId": mission.id, "amount": 1},
        {"type": "award_points", "mode": "fixed", "points": 1, "tierPoints": False}])
    member = factories.make_member(session, org)
    orders.record_order(session, member, order("st1", "3"), actor=org.actor)
    second = orders.record_order(session, member, order("st2", "3"), actor=org.actor)
    assert "mission_completed" in [e.type for e in second.evaluation.effects]
    assert balance(session, org, member) == 1 + 1 + 40
    missions.update_mission(session, mission, actor=org.actor, active=False)
    third = orders.record_order(session, member, order("st3", "3"), actor=org.actor)
    refused = [e for e in third.evaluation.effects if e.type == "increment_mission"]
    assert refused and "refused" in refused[0].details
    assert third.order.points_awarded == 1


def test_coupon_used_campaign_runs_once_per_use(session, org):
    from portal.domain import coupons

    book = factories.published_book(session, org, "Free cookie", coupons.REWARD, discount_amount=1)
    campaign = campaigns.create_campaign(session, org.id, code="THANKS", name="Thanks for redeeming",
                                         event_type=earning.COUPON_USED, actor=org.actor)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=[f"event.couponBookId == {book.id}"],
                         effects=[{"type": "award_points", "mode": "fixed", "points": 5, "tierPoints": False}])
    member = factories.make_member(session, org)
    coupons.use_coupon(session, member, book, actor=org.actor, system_unique_key="use-1")
    coupons.use_coupon(session, member, book, actor=org.actor, system_unique_key="use-1")  # replay
    assert balance(session, org, member) == 5


def test_an_effect_names_its_mission_only_for_a_mission_source():
    assert earning.Effect(type="mission_completed", source="mission:12").mission_id == 12
    assert [earning.Effect(type="award_points", source=s).mission_id for s in ("campaign:12", "mission:", "mission:x", "")] \
        == [None, None, None, None]


# --- the campaigns a process keeps (campaigns._listening_cache) ------------------------------------------------

def test_a_change_of_a_campaign_or_its_actions_is_seen_by_the_next_purchase(session, org):
    """The process keeps the listening campaigns and their actions between purchases; every change made since
    (an action's effect, a new action, a campaign paused, a new campaign) is what the next purchase sees, even
    with the clock standing still (a change always moves the campaign's updated_at on)."""
    with time_machine.travel(dt.datetime(2026, 6, 1, tzinfo=UTC), tick=False):
        campaign = base_campaign(session, org)
        member = factories.make_member(session, org)
        earned = lambda n: orders.record_order(session, member, order(f"C-{n}", 10),  # noqa: E731
                                               actor=org.actor).evaluation
        assert earned(1).points_awarded == 10
        action = campaigns.actions_of(session, campaign.id)[0]
        campaigns.update_action(session, action, actor=org.actor,
                                effects=[{"type": "award_points", "mode": "per_currency", "points": 3, "per": "1"}])
        assert earned(2).points_awarded == 30
        campaigns.add_action(session, campaign, actor=org.actor, rules_text=[],
                             effects=[{"type": "award_points", "mode": "fixed", "points": 5}])
        assert earned(3).points_awarded == 35
        campaigns.update_action(session, action, actor=org.actor, status=campaigns.DISABLED)
        assert earned(4).points_awarded == 5
        other = base_campaign(session, org, code="OTHER")
        assert [e.campaign_id for e in earned(5).effects] == [campaign.id, other.id]
        campaigns.update_campaign(session, campaign, actor=org.actor, active=False)
        assert [(e.campaign_id, e.points) for e in earned(6).effects] == [(other.id, 10)]


def test_a_rolled_back_campaign_change_is_not_kept(session, org):
    campaign = base_campaign(session, org)
    member = factories.make_member(session, org)
    savepoint = session.begin_nested()
    campaigns.update_action(session, campaigns.actions_of(session, campaign.id)[0], actor=org.actor,
                            effects=[{"type": "award_points", "mode": "fixed", "points": 99}])
    assert orders.simulate(session, member, order("S-1", 10), actor=org.actor).points_awarded == 99
    savepoint.rollback()
    assert orders.record_order(session, member, order("S-2", 10), actor=org.actor).evaluation.points_awarded == 10
    assert balance(session, org, member) == 10


def test_an_order_undone_with_its_savepoint_is_not_the_next_orders_object(session, org):
    """An import undoes a failed row's savepoint; SQLite then gives the undone order's id to the next order, whose
    insert must not hand back the undone order's object from the session."""
    member = factories.make_member(session, org)
    with pytest.raises(RuntimeError), session.begin_nested():
        undone = orders.record_order(session, member, order("UNDONE", 10), actor=org.actor).order
        raise RuntimeError("the row failed after its order was written")
    assert undone not in session  # as a flushed row would be: gone with its savepoint
    kept = orders.record_order(session, member, order("KEPT", 20), actor=org.actor).order
    assert kept is not undone and (kept.external_id, kept.total) == ("KEPT", Decimal(20))
    session.expire_all()
    assert session.scalars(select(orders.PurchaseOrder.external_id)).all() == ["KEPT"]


def test_a_rule_that_reads_the_balance_by_a_computed_key_sees_it(session, org):
    """The balances are read only for rules that ask for them; a key built in the rule names nothing in its text,
    so such a rule must not see a balance of 0."""
    member = factories.make_member(session, org)
    factories.give_points(session, org, member, 50)
    campaign = campaigns.create_campaign(session, org.id, code="RICH", name="For the rich", actor=org.actor)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=['member["bal" + "ance"] >= 50'],
                         effects=[{"type": "award_points", "mode": "fixed", "points": 7}])
    assert orders.record_order(session, member, order("RICH-1", 10), actor=org.actor).evaluation.points_awarded == 7


def test_an_action_changed_outside_the_campaign_functions_is_seen_by_the_next_purchase(session, org):
    """The campaign's updated_at follows any write of its actions at the flush, not only the writers that know
    about the copies kept per process."""
    with time_machine.travel(dt.datetime(2026, 6, 1, tzinfo=UTC), tick=False):
        campaign = base_campaign(session, org)
        member = factories.make_member(session, org)
        assert orders.record_order(session, member, order("D-1", 10), actor=org.actor).evaluation.points_awarded == 10
        action = campaigns.actions_of(session, campaign.id)[0]
        action.effects = [{**action.effects[0], "points": 2}]  # written by hand, not through update_action
        session.flush()
        assert orders.record_order(session, member, order("D-2", 10), actor=org.actor).evaluation.points_awarded == 20
