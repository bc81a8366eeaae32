"""Paying with points and returns that take back everything a purchase gave: points (in proportion),
mission progress and completions, the referral it completed, the coupons it awarded; debts and their
settlement from the next earnings."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from portal.domain import campaigns, coupons, holds, missions, orders, points, referrals
from portal.domain.ledger import LedgerTransaction
from portal.domain.orders import PointsDebt
from tests import factories
from tests.domain.test_earning import balance, base_campaign, order
from tests.domain.test_referrals import join, program, referral_of


def test_points_paid_do_not_earn_a_category_earns_in_the_money_share_and_a_fixed_award_is_whole(session, org):
    base_campaign(session, org)  # 1 per euro of the (discounted) total
    coffee = campaigns.create_campaign(session, org.id, code="COFFEE", name="Coffee", actor=org.actor)
    campaigns.add_action(session, coffee, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 2, "per": "1",
                                   "categories": ["coffee"]}])
    visit = campaigns.create_campaign(session, org.id, code="VISIT", name="Visit", actor=org.actor)
    campaigns.add_action(session, visit, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "fixed", "points": 7}])
    member = factories.make_member(session, org)
    factories.give_points(session, org, member, 100)
    # 40.00, of which 10.00 paid with 100 points: 30.00 earns 30; the coffee line (20.00 of 40.00) earns
    # 2 per euro on its money share, 15.00 -> 30; the fixed award is 7 whatever the spend.
    items = [orders.ItemInput("LATTE", 1, Decimal("20"), "coffee"), orders.ItemInput("MUG", 1, Decimal("20"), "home")]
    paid = order("p-1", "40.00", items=items, points_redeemed=100, points_redeemed_value=Decimal("10"))
    assert orders.simulate(session, member, paid, actor=org.actor).points_awarded == 30 + 30 + 7
    result = orders.record_order(session, member, paid, actor=org.actor)
    assert [(e.source, e.points) for e in result.evaluation.effects] == [
        ("campaign:BASE", 30), ("campaign:COFFEE", 30), ("campaign:VISIT", 7)]
    assert balance(session, org, member) == 100 - 100 + 67
    assert result.order.points_redeemed == 100 and result.order.points_earned == 67


def test_a_cancelled_created_order_releases_its_reservation_and_a_shrunk_basket_captures_part(session, org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    factories.give_points(session, org, member, 500)
    wallet = factories.wallet_of(session, org, member)
    first = holds.reserve(session, member, 200, actor=org.actor).hold
    orders.record_order(session, member, order("c-1", "50.00", status="created", hold_id=first.id,
                                               points_redeemed_value=Decimal("20")), actor=org.actor)
    session.refresh(wallet)
    assert (wallet.balance, wallet.held) == (500, 200)
    orders.record_order(session, member, order("c-1", "50.00", status="cancelled"), actor=org.actor)
    session.refresh(wallet)
    assert (wallet.balance, wallet.held, session.get(holds.PointsHold, first.id).status) == (500, 0, holds.RELEASED)

    second = holds.reserve(session, member, 200, actor=org.actor).hold
    orders.record_order(session, member, order("c-2", "50.00", hold_id=second.id, points_redeemed=150,
                                               points_redeemed_value=Decimal("15")), actor=org.actor)
    session.refresh(wallet)
    assert (wallet.balance, wallet.held) == (500 - 150 + 35, 0)
    assert (second.status, second.captured) == (holds.CAPTURED, 150)
    with pytest.raises(holds.RedeemExceedsHold):
        third = holds.reserve(session, member, 10, actor=org.actor).hold
        orders.record_order(session, member, order("c-3", "5.00", hold_id=third.id, points_redeemed=11,
                                                   points_redeemed_value=Decimal("1")), actor=org.actor)


def test_an_expired_reservation_cannot_pay(session, org):
    member = factories.make_member(session, org)
    factories.give_points(session, org, member, 50)
    hold = holds.reserve(session, member, 50, actor=org.actor, minutes=5).hold
    with time_machine.travel(holds.utcnow() + dt.timedelta(minutes=6), tick=False):
        with pytest.raises(holds.HoldNotHeld):
            orders.record_order(session, member, order("e-1", "9.00", hold_id=hold.id,
                                                       points_redeemed_value=Decimal("5")), actor=org.actor)


def test_a_full_return_takes_back_mission_progress_and_completion_points(session, org):
    stamps = missions.create_mission(session, org.id, actor=org.actor, name="Three coffees",
                                     event_type="member-purchase-order-confirmed", goal_count=3,
                                     points_on_completion=40)
    member = factories.make_member(session, org)
    for n in (1, 2, 3):
        orders.record_order(session, member, order(f"m-{n}", "5.00"), actor=org.actor)
    assert missions.progress_of(session, member, stamps).completions == 1 and balance(session, org, member) == 40
    orders.record_order(session, member, order("m-3", "5.00", status="returned"), actor=org.actor)
    progress = missions.progress_of(session, member, stamps)
    assert (progress.completions, progress.counter) == (0, 2)
    assert balance(session, org, member) == 0
    orders.record_order(session, member, order("m-2", "5.00", status="cancelled"), actor=org.actor)
    assert missions.progress_of(session, member, stamps).counter == 1
    # Counting on: the next two purchases complete it again, and pay again.
    for n in (4, 5):
        orders.record_order(session, member, order(f"m-{n}", "5.00"), actor=org.actor)
    assert missions.progress_of(session, member, stamps).completions == 1 and balance(session, org, member) == 40


def test_a_returned_first_purchase_takes_back_both_referral_rewards_and_the_spent_part_becomes_a_debt(session, org):
    rp = program(session, org)  # 100 to the referrer, 50 to the friend, on the friend's first purchase
    alice = factories.make_member(session, org, email="alice@example.com")
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    bob = join(session, org, code.code)
    orders.record_order(session, bob, order("b-1", "20.00"), actor=org.actor)
    assert balance(session, org, alice) == 100 and balance(session, org, bob) == 50
    orders.record_order(session, alice, order("a-spend", "0.00", points_redeemed=60,
                                              points_redeemed_value=Decimal("0")), actor=org.actor)
    assert balance(session, org, alice) == 40
    result = orders.record_order(session, bob, order("b-1", "20.00", status="returned"), actor=org.actor)
    assert result.debt_recorded == 0  # bob's own 50 were all there
    assert balance(session, org, alice) == 0 and balance(session, org, bob) == 0
    assert orders.outstanding_debt(session, alice.id, org.program.points_account_id) == 60
    referral = referral_of(session, bob)
    assert (referral.status, referral.reason) == ("rejected", "qualifying purchase returned")
    assert session.scalar(select(referrals.ReferralCode.rewarded).where(referrals.ReferralCode.id == code.id)) == 0


def test_a_full_return_revokes_an_unused_awarded_coupon_and_a_used_one_becomes_a_debt(session, org):
    kept = factories.published_book(session, org, "Free cookie", coupons.REWARD, discount_amount=1)
    bonus = factories.published_book(session, org, "+25", coupons.EXTRAPOINT, discount_amount=25,
                                     condition={"minTotal": 10})
    factories.gift_campaign(session, org, kept, bonus)
    member = factories.make_member(session, org)
    given = orders.record_order(session, member, order("g-1", "5.00"), actor=org.actor)
    cookie_ids, bonus_ids = [e.details["couponUsageIds"] for e in given.evaluation.effects
                             if e.type == "assign_coupon"]
    # The +25 coupon applies by itself on the next purchase of 10 or more (used); the cookie stays unused.
    orders.record_order(session, member, order("g-2", "10.00"), actor=org.actor)
    assert balance(session, org, member) == 25
    orders.record_order(session, member, order("x-1", "0.00", points_redeemed=25,
                                               points_redeemed_value=Decimal("0")), actor=org.actor)
    result = orders.record_order(session, member, order("g-1", "5.00", status="returned"), actor=org.actor)
    [cookie] = coupons.usages_by_ids(session, cookie_ids)
    [plus] = coupons.usages_by_ids(session, bonus_ids)
    session.refresh(cookie), session.refresh(plus)
    assert cookie.state == coupons.REVERTED and plus.state == coupons.USED
    assert result.debt_recorded == 25 and orders.outstanding_debt(session, member.id) == 25


def test_debts_are_settled_from_the_next_earnings_oldest_first_a_line_each(session, org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    for ref in ("d-1", "d-2"):
        orders.record_order(session, member, order(ref, "30.00"), actor=org.actor)
    orders.record_order(session, member, order("spend", "0.00", points_redeemed=60,
                                               points_redeemed_value=Decimal("0")), actor=org.actor)
    for ref in ("d-1", "d-2"):
        orders.record_order(session, member, order(ref, "30.00", status="returned"), actor=org.actor)
    debts = list(session.scalars(select(PointsDebt).where(PointsDebt.member_id == member.id,
                                                         PointsDebt.ledger_account_id == org.program.points_account_id)
                                 .order_by(PointsDebt.id)))
    assert [(d.amount, d.settled) for d in debts] == [(30, 0), (30, 0)]
    orders.record_order(session, member, order("n-1", "40.00"), actor=org.actor)  # earns 40
    for debt in debts:
        session.refresh(debt)
    assert [(d.amount, d.settled) for d in debts] == [(30, 30), (30, 10)]
    assert balance(session, org, member) == 0
    lines = list(session.scalars(select(LedgerTransaction.description).where(
        LedgerTransaction.ledger_account_id == org.program.points_account_id,
        LedgerTransaction.description.like("Debt%"))
        .order_by(LedgerTransaction.id)))
    assert lines == ["Debt from order d-1 settled", "Debt from order d-2 settled"]


def test_an_open_order_posted_again_without_its_reservation_releases_it(session, org):
    member = factories.make_member(session, org)
    factories.give_points(session, org, member, 80)
    hold = holds.reserve(session, member, 80, actor=org.actor).hold
    orders.record_order(session, member, order("r-1", "9.00", status="created", hold_id=hold.id,
                                               points_redeemed_value=Decimal("8")), actor=org.actor)
    result = orders.record_order(session, member, order("r-1", "9.00"), actor=org.actor)  # paid all in money
    assert hold.status == holds.RELEASED and result.order.points_redeemed == 0
    wallet = factories.wallet_of(session, org, member)
    session.refresh(wallet)
    assert (wallet.balance, wallet.held) == (80, 0)


def test_a_coupon_awarded_by_an_order_and_used_on_the_next_is_owed_once_when_the_first_is_returned(session, org):
    factories.gift_once_per_member(session, org, "+25", coupons.EXTRAPOINT, discount_amount=25)
    member = factories.make_member(session, org)
    given = orders.record_order(session, member, order("s-1", "5.00"), actor=org.actor)
    # Coupons are used before the campaigns award (campaigns.py): the one s-1 awarded applies from the next.
    assert given.order.points_earned == 0
    assert orders.record_order(session, member, order("s-2", "5.00"), actor=org.actor).order.points_earned == 25
    orders.record_order(session, member, order("x-1", "0.00", points_redeemed=25,
                                               points_redeemed_value=Decimal("0")), actor=org.actor)
    result = orders.record_order(session, member, order("s-1", "5.00", status="returned"), actor=org.actor)
    assert result.debt_recorded == 25 and orders.outstanding_debt(session, member.id, org.program.points_account_id) == 25


# --- debts are settled from the next earnings of any kind ----------------------------------------------------

def owe(session, org, member, **debts: int) -> None:
    """Debts, one per order: the orders earn them (the BASE campaign), the member spends it all, they are returned."""
    for ref, amount in debts.items():
        orders.record_order(session, member, order(ref, f"{amount}.00"), actor=org.actor)
    spent = sum(debts.values())
    orders.record_order(session, member, order("spend", "0.00", points_redeemed=spent,
                                               points_redeemed_value=Decimal("0")), actor=org.actor)
    for ref, amount in debts.items():
        result = orders.record_order(session, member, order(ref, f"{amount}.00", status="returned"), actor=org.actor)
        assert result.debt_recorded == amount


def settlements(session, org) -> list[tuple[str, int]]:
    return [(tx.description, tx.amount) for tx in session.scalars(select(LedgerTransaction).where(
        LedgerTransaction.ledger_account_id == org.program.points_account_id,
        LedgerTransaction.description.like("Debt%"))
        .order_by(LedgerTransaction.id))]


def test_a_mission_reward_and_a_campaign_on_a_custom_event_settle_debts_oldest_first(session, org):
    from portal.domain import custom_events

    base_campaign(session, org)
    member = factories.make_member(session, org)
    owe(session, org, member, d1=30, d2=20)
    custom_events.create_event_type(session, org.id, name="app-review-written", actor=org.actor)
    missions.create_mission(session, org.id, actor=org.actor, name="One review", event_type="app-review-written",
                            goal_count=1, points_on_completion=40, max_repetitions=1)
    # The first review completes the mission: its 40 pay d1's 30 and 10 of d2's 20.
    custom_events.track_event(session, member, "app-review-written", actor=org.actor, system_unique_key="rev-1")
    assert balance(session, org, member) == 0
    assert orders.outstanding_debt(session, member.id, org.program.points_account_id) == 10
    assert settlements(session, org) == [("Debt from order d1 settled", 30), ("Debt from order d2 settled", 10)]
    # A campaign listening to the event (no mission any more: it completed once) pays the rest from its 25.
    review = campaigns.create_campaign(session, org.id, code="REVIEW", name="Review", actor=org.actor,
                                       event_type="app-review-written")
    campaigns.add_action(session, review, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "fixed", "points": 25}])
    custom_events.track_event(session, member, "app-review-written", actor=org.actor, system_unique_key="rev-2")
    assert balance(session, org, member) == 15
    assert orders.outstanding_debt(session, member.id, org.program.points_account_id) == 0
    assert settlements(session, org)[-1] == ("Debt from order d2 settled", 10)


def test_a_staff_correction_settles_a_debt_and_its_replay_settles_nothing_more(session, org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    owe(session, org, member, d1=30)
    for _ in range(2):
        movement = points.adjust_member_points(session, member, 20, actor=org.actor, reason_text="Goodwill",
                                               system_unique_key="adj-1")
    assert movement.replayed and balance(session, org, member) == 0
    assert orders.outstanding_debt(session, member.id, org.program.points_account_id) == 10
    assert settlements(session, org) == [("Debt from order d1 settled", 20)]
    # A referral reward is an earning like any other.
    rp = program(session, org)  # 100 to the referrer on the friend's first purchase
    code = referrals.create_code(session, rp, member, actor=org.actor)
    friend = join(session, org, code.code)
    orders.record_order(session, friend, order("f-1", "20.00"), actor=org.actor)
    assert orders.outstanding_debt(session, member.id, org.program.points_account_id) == 0
    assert balance(session, org, member) == 90


def test_used_money_coupons_are_owed_at_the_programmes_point_value_and_without_one_only_noted(session, org):
    from portal.domain.audit import AuditEntry

    fixed = factories.published_book(session, org, "5.01 off", coupons.DISCOUNT, discount_type=coupons.FIXED,
                                     discount_amount=Decimal("5.01"))
    percent = factories.published_book(session, org, "7 % off", coupons.DISCOUNT, discount_type=coupons.PERCENTAGE,
                                       discount_amount=7)
    reward = factories.published_book(session, org, "Cake", coupons.REWARD, discount_type=coupons.FIXED,
                                      discount_amount=2, usage_required_points=20)
    factories.gift_campaign(session, org, fixed, percent, reward, rule="order.total < 10")

    def buy_use_and_return(member):
        factories.give_points(session, org, member, 20)
        orders.record_order(session, member, order(f"g-{member.id}", "5.00"), actor=org.actor)  # the gifts
        orders.record_order(session, member, order(f"u-{member.id}", "50.00"), actor=org.actor)
        for book in (fixed, percent, reward):  # at the till, on the 50.00 purchase
            coupons.use_coupon(session, member, book, actor=org.actor,
                               purchase=coupons.Purchase(total=Decimal("50.00"), external_id=f"u-{member.id}"))
        assert balance(session, org, member) == 0  # the cake cost its 20 points
        return orders.record_order(session, member, order(f"g-{member.id}", "5.00", status="returned"),
                                   actor=org.actor)

    # No pointValue: a money coupon has no value in points; the audit entry says it was kept, unvalued.
    assert org.program.point_value is None
    ann = factories.make_member(session, org)
    assert buy_use_and_return(ann).debt_recorded == 0
    kept = session.scalars(select(AuditEntry).where(AuditEntry.action == "order.used_coupon_kept")).all()
    assert sorted((e.details["points"], e.details["valued"]) for e in kept) == [(0, False)] * 3

    # At 0.05 a point: 5.01 -> 100 (rounded down); 7 % of 50.00 = 3.50 -> 70; the cake 2.00 -> 40, less the
    # 20 paid to use it -> 20.
    org.program.point_value = Decimal("0.05")
    session.flush()
    bob = factories.make_member(session, org)
    result = buy_use_and_return(bob)
    assert result.debt_recorded == 100 + 70 + 20
    assert orders.outstanding_debt(session, bob.id, org.program.points_account_id) == 190
    factories.give_points(session, org, bob, 1)  # a bare ledger mint is no earning: it settles nothing
    assert orders.outstanding_debt(session, bob.id, org.program.points_account_id) == 190
    # An earning settles from what the wallet holds then: 1 + 200, of which 190 pay the debt.
    points.mint_to_member(session, bob, 200, actor=org.actor, reason=points.Reason(description="Goodwill"))
    assert balance(session, org, bob) == 11
    assert orders.outstanding_debt(session, bob.id, org.program.points_account_id) == 0


def test_a_used_percentage_coupon_is_owed_on_the_discounted_total_of_the_purchase_it_was_used_on(session, org):
    # The debt is never valued against the member: the order's `total` counts discounts this coupon never gave
    # (another promotion, discount lines), so its percentage is taken of what the purchase cost, `discountedTotal`,
    # the spend the earning engine values a purchase by (campaigns.eligible_spend); `total` only without one.
    percent = factories.published_book(session, org, "10 % off", coupons.DISCOUNT, discount_type=coupons.PERCENTAGE,
                                       discount_amount=10)
    factories.gift_campaign(session, org, percent, rule="order.total < 10")
    org.program.point_value = Decimal("0.05")
    session.flush()

    def buy_use_and_return(member, **used_on):
        orders.record_order(session, member, order(f"g-{member.id}", "5.00"), actor=org.actor)  # the gift
        orders.record_order(session, member, order(f"u-{member.id}", "50.00", **used_on), actor=org.actor)
        coupons.use_coupon(session, member, percent, actor=org.actor,
                           purchase=coupons.Purchase(total=Decimal("50.00"), external_id=f"u-{member.id}"))
        return orders.record_order(session, member, order(f"g-{member.id}", "5.00", status="returned"),
                                   actor=org.actor).debt_recorded

    # 10 % of 36.00 (not of 50.00) = 3.60 -> 72 points at 0.05 a point; without a discounted total, 10 % of 50.00.
    assert buy_use_and_return(factories.make_member(session, org), discounted_total=Decimal("36.00")) == 72
    assert buy_use_and_return(factories.make_member(session, org)) == 100


def test_a_returned_first_purchase_takes_back_what_campaigns_gave_the_referrer_on_referral_completed(session, org):
    rp = program(session, org)  # 100 to the referrer, 50 to the friend, on the friend's first purchase
    thanks = campaigns.create_campaign(session, org.id, code="THANKS", name="Thanks for the friend",
                                       actor=org.actor, event_type="referral-completed")
    campaigns.add_action(session, thanks, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "fixed", "points": 30}])  # and 30 tier points
    alice = factories.make_member(session, org, email="alice@example.com")
    code = referrals.create_code(session, rp, alice, actor=org.actor)
    bob = join(session, org, code.code)
    first = orders.record_order(session, bob, order("b-1", "20.00"), actor=org.actor)
    assert balance(session, org, alice) == 130 and balance(session, org, alice, tier_points=True) == 30
    [completed] = [e for e in first.evaluation.effects if e.type == "referral_completed"]
    assert [(e["source"], e["points"]) for e in completed.details["referrerEffects"]] == [("campaign:THANKS", 30)]
    orders.record_order(session, alice, order("a-spend", "0.00", points_redeemed=120,
                                              points_redeemed_value=Decimal("0")), actor=org.actor)
    orders.record_order(session, bob, order("b-1", "20.00", status="returned"), actor=org.actor)
    # 100 + 30 taken back from alice's 10: 10 burned, 120 owed; her 30 tier points burned.
    assert balance(session, org, alice) == 0 and balance(session, org, alice, tier_points=True) == 0
    assert orders.outstanding_debt(session, alice.id, org.program.points_account_id) == 120
    # Taken back once: the referral is rejected now, and a second take-back returns nothing to take.
    assert referrals.take_back(session, referral_of(session, bob).id, actor=org.actor,
                               follow_up=completed.details["referrerEffects"]) == []
    assert orders.outstanding_debt(session, alice.id, org.program.points_account_id) == 120
