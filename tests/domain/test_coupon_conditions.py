"""A coupon book's audiences and `condition` hold: at a use at the till, on a purchase, in its simulation.

Each condition field has one purchase that passes and one that does not; the
purchase path and the simulation earn the coupon's extra points only on the one
that passes, and a use at the till is refused by the error named for the field.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.domain import audiences, campaigns, coupons, orders
from portal.domain.orders import ItemInput, OrderInput
from tests.factories import make_member

from .conftest import fails_cleanly

# A Monday, 10:00 UTC.
MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)


def book_with(session, org, condition, **fields):
    fields.setdefault("type", coupons.EXTRAPOINT)
    fields.setdefault("discount_amount", 50)
    return coupons.create_book(session, org.id, actor=org.actor, name=fields.pop("name", "Bonus"),
                               publishing_status=coupons.PUBLISHED, condition=condition, **fields)


def line(sku, price, category="coffee", quantity=1):
    return ItemInput(sku=sku, quantity=quantity, unit_price=Decimal(price), product_category_code=category)


def purchase(external_id, items, location="BER-01", when=MONDAY_10):
    total = sum((i.unit_price * i.quantity for i in items), Decimal(0))
    return OrderInput(external_id=external_id, status="confirmed", total=total, items=items,
                      location_code=location, external_event_date=when)


def earn_one_per_euro(session, org):
    campaign = campaigns.create_campaign(session, org.id, code="BASE", name="1 per euro", actor=org.actor)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"}])


def coupon_bonus(evaluation) -> int:
    return sum(e.points for e in evaluation.effects if e.source == "coupons")


# (condition, the purchase that passes, the one that does not, the error a till use gets, its field)
CASES = {
    "minTotal": ({"minTotal": 20}, [line("LATTE", "20")], [line("LATTE", "19.99")],
                 coupons.CouponBelowMinimumTotal, "condition.minTotal"),
    "includedProducts": ({"includedProducts": ["BEANS"]}, [line("BEANS", "9"), line("LATTE", "3")],
                         [line("LATTE", "12")], coupons.CouponProductsNotInPurchase, "condition.includedProducts"),
    "includedCategories": ({"includedCategories": ["tea"]}, [line("EARL", "4", "tea")], [line("LATTE", "4")],
                           coupons.CouponProductsNotInPurchase, "condition.includedCategories"),
    "excludedProducts": ({"excludedProducts": ["TOBACCO"], "minTotal": 10},
                         [line("TOBACCO", "30", "kiosk"), line("LATTE", "10")],
                         [line("TOBACCO", "30", "kiosk"), line("LATTE", "9")],
                         coupons.CouponBelowMinimumTotal, "condition.minTotal"),
    "excludedCategories": ({"excludedCategories": ["kiosk"]}, [line("NEWS", "2", "kiosk"), line("LATTE", "3")],
                           [line("NEWS", "2", "kiosk")], coupons.CouponProductsNotInPurchase,
                           "condition.excludedCategories"),
    "locationCodes": ({"locationCodes": ["BER-01"]}, "BER-01", "HAM-02", coupons.CouponStoreNotAllowed,
                      "condition.locationCodes"),
    "daysOfWeek": ({"daysOfWeek": ["monday"]}, MONDAY_10, MONDAY_10 + dt.timedelta(days=1),
                   coupons.CouponOutsideDaysAndHours, "condition.daysOfWeek"),
    "hours": ({"fromTime": "08:00", "toTime": "11:00"}, MONDAY_10, MONDAY_10 + dt.timedelta(hours=1),
              coupons.CouponOutsideDaysAndHours, "condition.fromTime"),
}


def _orders(case, suffix):
    condition, good, bad, _, _ = CASES[case]
    if isinstance(good, str):  # a store
        return (purchase(f"ok-{suffix}", [line("LATTE", "10")], location=good),
                purchase(f"no-{suffix}", [line("LATTE", "10")], location=bad))
    if isinstance(good, dt.datetime):
        return (purchase(f"ok-{suffix}", [line("LATTE", "10")], when=good),
                purchase(f"no-{suffix}", [line("LATTE", "10")], when=bad))
    return purchase(f"ok-{suffix}", good), purchase(f"no-{suffix}", bad)


@pytest.fixture
def fixed_now(monkeypatch):
    """Orders dated MONDAY_10 are recent enough to earn."""
    monkeypatch.setattr(orders, "late_purchase_window", dt.timedelta(days=36500))


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_condition_on_a_purchase_and_its_simulation(session, org, fixed_now, case):
    earn_one_per_euro(session, org)
    member = make_member(session, org)
    book = book_with(session, org, CASES[case][0])
    coupons.assign_coupons(session, member, book, actor=org.actor, number_of_codes=2)
    passes, fails = _orders(case, case)

    assert coupon_bonus(orders.simulate(session, member, fails, actor=org.actor)) == 0
    assert coupon_bonus(orders.simulate(session, member, passes, actor=org.actor)) == 50
    refused = orders.record_order(session, member, fails, actor=org.actor)
    assert coupon_bonus(refused.evaluation) == 0
    assert refused.order.points_awarded == int(fails.total)  # the campaign alone
    earned = orders.record_order(session, member, passes, actor=org.actor)
    assert coupon_bonus(earned.evaluation) == 50
    assert earned.order.points_awarded == int(passes.total) + 50
    assert coupons.member_coupon_counts(session, member)  # one coupon left, one used
    uses = session.scalars(select(coupons.CouponUsage).where(coupons.CouponUsage.member_id == member.id,
                                                            coupons.CouponUsage.kind == coupons.USE)).all()
    assert [u.purchase_ref for u in uses] == [passes.external_id]


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_condition_at_a_till_use(session, org, case):
    condition, _, _, error, field = CASES[case]
    member = make_member(session, org)
    book = book_with(session, org, condition, type=coupons.DISCOUNT, discount_type="percentage",
                     discount_amount=10)
    passes, fails = _orders(case, case)

    def use(data, key):
        bought = coupons.Purchase(total=data.total, external_id=data.external_id,
                                  items=[{"sku": i.sku, "category": i.product_category_code, "quantity": i.quantity,
                                          "unitPrice": str(i.unit_price)} for i in data.items])
        return coupons.use_coupon(session, member, book, actor=org.actor, system_unique_key=key, purchase=bought,
                                  place=coupons.Place(location_code=data.location_code),
                                  now=data.external_event_date)

    with fails_cleanly(session, error) as info:
        use(fails, "k-no")
    assert info.value.field == field
    assert use(passes, "k-ok").usages[-1].kind == coupons.USE


def test_basket_conditions_need_the_purchase_at_the_till(session, org):
    member = make_member(session, org)
    book = book_with(session, org, {"minTotal": 5}, type=coupons.REWARD, discount_amount=None)
    with fails_cleanly(session, coupons.CouponPurchaseRequired) as info:
        coupons.use_coupon(session, member, book, actor=org.actor)
    assert info.value.field == "purchase"
    # A condition on the store or the hour needs no basket.
    anywhere = book_with(session, org, {"daysOfWeek": ["monday"]}, type=coupons.REWARD, discount_amount=None,
                         name="Mondays")
    assert coupons.use_coupon(session, member, anywhere, actor=org.actor, now=MONDAY_10).usages


def test_first_purchase_only(session, org, fixed_now):
    earn_one_per_euro(session, org)
    member = make_member(session, org)
    book = book_with(session, org, {"firstPurchaseOnly": True})
    coupons.assign_coupons(session, member, book, actor=org.actor, number_of_codes=2)
    first = orders.record_order(session, member, purchase("first", [line("LATTE", "10")]), actor=org.actor)
    assert coupon_bonus(first.evaluation) == 50
    second = purchase("second", [line("LATTE", "10")])
    assert coupon_bonus(orders.simulate(session, member, second, actor=org.actor)) == 0
    assert coupon_bonus(orders.record_order(session, member, second, actor=org.actor).evaluation) == 0
    # At the till: the member has bought before.
    till = book_with(session, org, {"firstPurchaseOnly": True}, type=coupons.REWARD, discount_amount=None,
                     name="Welcome")
    with fails_cleanly(session, coupons.CouponFirstPurchaseOnly):
        coupons.use_coupon(session, member, till, actor=org.actor)
    newcomer = make_member(session, org)
    assert coupons.use_coupon(session, newcomer, till, actor=org.actor).usages


def test_a_coupon_that_cannot_be_combined_stands_alone(session, org, fixed_now):
    earn_one_per_euro(session, org)
    member = make_member(session, org)
    alone = book_with(session, org, {"combinable": False}, name="Alone", discount_amount=100)
    other = book_with(session, org, {}, name="Other", discount_amount=7)
    coupons.assign_coupons(session, member, alone, actor=org.actor,
                           expires_at=MONDAY_10 + dt.timedelta(days=3650))
    coupons.assign_coupons(session, member, other, actor=org.actor)
    # Both qualify; the one expiring first (alone) is taken, and it takes no company.
    first = orders.record_order(session, member, purchase("p1", [line("LATTE", "10")]), actor=org.actor)
    assert coupon_bonus(first.evaluation) == 100
    # A discount used at the till on the next purchase: the automatic coupon that stands alone would not join it.
    till = book_with(session, org, {}, type=coupons.REWARD, discount_amount=None, name="Till")
    p2 = purchase("p2", [line("LATTE", "10")])
    coupons.use_coupon(session, member, till, actor=org.actor,
                       purchase=coupons.Purchase(total=p2.total, external_id="p2"))
    second = orders.record_order(session, member, p2, actor=org.actor)
    assert coupon_bonus(second.evaluation) == 7  # the combinable one joins the till's coupon
    # A coupon that stands alone is refused at the till when the purchase already has one.
    lone_till = book_with(session, org, {"combinable": False}, type=coupons.REWARD, discount_amount=None,
                          name="Lone till")
    with fails_cleanly(session, coupons.CouponNotCombinable) as info:
        coupons.use_coupon(session, member, lone_till, actor=org.actor,
                           purchase=coupons.Purchase(total=p2.total, external_id="p2"))
    assert info.value.field == "condition.combinable"


@pytest.mark.parametrize("condition, field", [
    ({"minTotal": "lots"}, "condition.minTotal"),
    ({"minTotal": -1}, "condition.minTotal"),
    ({"includedProducts": "BEANS"}, "condition.includedProducts"),
    ({"daysOfWeek": ["funday"]}, "condition.daysOfWeek"),
    ({"fromTime": "25:00", "toTime": "26:00"}, "condition.fromTime"),
    ({"fromTime": "08:00"}, "condition.toTime"),
    ({"firstPurchaseOnly": "yes"}, "condition.firstPurchaseOnly"),
    ({"maxBasket": 3}, "condition.maxBasket"),
])
def test_a_condition_is_checked_when_saved(session, org, condition, field):
    from portal.domain.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as info:
        book_with(session, org, condition)
    assert info.value.field == field


def test_conditions_as_terms_for_plain_words():
    terms = coupons.conditions.describe({
        "minTotal": 20, "includedCategories": ["coffee", "tea"], "excludedProducts": ["TOBACCO"],
        "locationCodes": ["BER-01"], "daysOfWeek": ["monday", "friday"], "fromTime": "08:00", "toTime": "11:00",
        "firstPurchaseOnly": True, "combinable": False})
    assert terms == [("minTotal", {"amount": Decimal(20), "eligible": True}),
                     ("includedCategories", {"values": ["coffee", "tea"]}),
                     ("excludedProducts", {"values": ["TOBACCO"]}), ("locationCodes", {"values": ["BER-01"]}),
                     ("daysOfWeek", {"values": ["monday", "friday"]}), ("hours", {"start": "08:00", "end": "11:00"}),
                     ("firstPurchaseOnly", {}), ("notCombinable", {})]
    assert coupons.conditions.describe({}) == []
    assert coupons.conditions.describe({"minTotal": 0, "locationCodes": ["BER-01"]}) == [
        ("locationCodes", {"values": ["BER-01"]})]  # a minimum of 0 is no condition to show


# --- audiences -----------------------------------------------------------------------------

def test_audiences_are_enforced_on_claim_assignment_and_use(session, org, fixed_now):
    vip = audiences.create_audience(session, org.id, name="vip", actor=org.actor, kind=audiences.LIST)
    berlin = audiences.create_audience(session, org.id, name="berliners", actor=org.actor,
                                       rule='member.city == "Berlin"')
    inside, outside = make_member(session, org), make_member(session, org)
    audiences.add_members(session, vip, [inside.id])
    book = book_with(session, org, {}, type=coupons.REWARD, discount_amount=None, audience_keys=["vip"])

    for call in (lambda: coupons.claim_coupon(session, outside, book, actor=org.actor),
                 lambda: coupons.assign_coupons(session, outside, book, actor=org.actor),
                 lambda: coupons.use_coupon(session, outside, book, actor=org.actor)):
        with fails_cleanly(session, coupons.CouponNotInAudience) as info:
            call()
        assert info.value.field == "audienceKeys" and "'vip'" in info.value.message
    assert isinstance(coupons.assignment_refusal(session, outside, book), coupons.CouponNotInAudience)
    assert coupons.claim_coupon(session, inside, book, actor=org.actor).usages
    assert coupons.use_coupon(session, inside, book, actor=org.actor).usages

    # A rule audience, evaluated as campaigns evaluate it; and an automatic coupon on a purchase.
    earn_one_per_euro(session, org)
    bonus = book_with(session, org, {}, audience_keys=["berliners"], name="Berlin bonus")
    with fails_cleanly(session, coupons.CouponNotInAudience):
        coupons.assign_coupons(session, inside, bonus, actor=org.actor)
    from portal.domain.members import update_member
    update_member(session, inside, actor=org.actor, profile={"city": "Berlin"})
    coupons.assign_coupons(session, inside, bonus, actor=org.actor)
    assert coupon_bonus(orders.record_order(session, inside, purchase("b1", [line("LATTE", "10")]),
                                            actor=org.actor).evaluation) == 50
    assert berlin.id
