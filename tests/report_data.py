"""A week of activity around a clock change and a month boundary, with the report figures worked out by hand.

The organisation keeps Europe/Berlin time. Clocks went forward on Sunday 29 March 2026 at 01:00 UTC
(CET +1 to CEST +2), so the same UTC evening lands on different local days before and after; and
31 March 22:15 UTC is already 1 April in Berlin. The range is 27 March to 2 April (local days).

    instant (UTC)        local (Berlin)        what happens
    1 Apr 2025 10:00                           Anna joins; 7 points, which expire a year later (the points
                                               account expires points after 12 months)  (before the range)
    26 Mar 22:50         26 Mar 23:50 CET      1000 points; Anna -> Silver; Anna's referral code; Anna uses
                                               a reward coupon                              (before the range)
    26 Mar 23:10         27 Mar 00:10 CET      +10 points
    28 Mar 23:30         29 Mar 00:30 CET      Ben joins; +20 for Ben; Ben uses the 5.00 coupon; Ben completes
                                               the mission; Ben -> Bronze; Ben joins with Anna's code
    29 Mar 22:30         30 Mar 00:30 CEST     -5 of Ben's points (burned)
    30 Mar 12:00         30 Mar 14:00 CEST     a pending mint of 999 (moves nothing)
    31 Mar 21:50         31 Mar 23:50 CEST     +40; Anna uses the 5.00 coupon
    31 Mar 22:15         1 Apr 00:15 CEST      Cleo joins; +80; Anna uses the 10 % coupon; Ben gets a reward
                                               coupon; Anna completes the mission twice; Ben -> Gold; Ben's
                                               referral completes; Cleo joins with Anna's code
    1 Apr 10:00          1 Apr 12:00 CEST      the expiry job burns Anna's 7 points of a year ago
    2 Apr 10:00          2 Apr 12:00 CEST      the +40 of 31 Mar is reverted; Ben uses the 10 % coupon, and
                                               that use is reverted (his assignment stays)
    2 Apr 22:30          3 Apr 00:30 CEST      Dora joins; +300; Anna uses a reward coupon; Anna's third
                                               completion; Anna -> Gold; Dora joins with Anna's code  (after)

Another organisation does the same kind of things in the same days; none of it may be counted.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import time_machine

from portal.domain import coupons, custom_events, expiry, ledger, missions, points, referrals, tiers
from portal.domain.ledger import Reason
from tests import factories

UTC = dt.timezone.utc
TIMEZONE = "Europe/Berlin"
FIRST, LAST = dt.date(2026, 3, 27), dt.date(2026, 4, 2)

YEAR_BEFORE = dt.datetime(2025, 4, 1, 10, 0, tzinfo=UTC)
BEFORE = dt.datetime(2026, 3, 26, 22, 50, tzinfo=UTC)
MAR27 = dt.datetime(2026, 3, 26, 23, 10, tzinfo=UTC)
MAR29 = dt.datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
MAR30 = dt.datetime(2026, 3, 29, 22, 30, tzinfo=UTC)
MAR30_NOON = dt.datetime(2026, 3, 30, 12, 0, tzinfo=UTC)
MAR31 = dt.datetime(2026, 3, 31, 21, 50, tzinfo=UTC)
APR1 = dt.datetime(2026, 3, 31, 22, 15, tzinfo=UTC)
APR1_NOON = dt.datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
APR2 = dt.datetime(2026, 4, 2, 10, 0, tzinfo=UTC)
AFTER = dt.datetime(2026, 4, 2, 22, 30, tzinfo=UTC)

D = dt.date
DAYS = [D(2026, 3, 27), D(2026, 3, 28), D(2026, 3, 29), D(2026, 3, 30), D(2026, 3, 31), D(2026, 4, 1),
        D(2026, 4, 2)]

# By local day: (minted, burned, expired, outstanding at the end of the day).
# Outstanding before the range: 7 + 1000.
POINTS_BY_DAY = [(10, 0, 0, 1017), (0, 0, 0, 1017), (20, 0, 0, 1037), (0, 5, 0, 1032), (40, 0, 0, 1072),
                 (80, 0, 7, 1145), (-40, 0, 0, 1105)]
POINTS_TOTALS = {"minted": 110, "burned": 5, "expired": 7, "outstanding": 1105}
POINTS_BY_WEEK = {"2026-W13": (30, 0, 0, 1037), "2026-W14": (80, 5, 7, 1105)}
POINTS_BY_MONTH = {"2026-03": (70, 5, 0, 1072), "2026-04": (40, 0, 7, 1105)}
# The same days in UTC: 26 Mar 23:10 falls out, 31 Mar 22:15 is March, 2 Apr 22:30 falls in.
POINTS_BY_MONTH_UTC = {"2026-03": (140, 5, 0), "2026-04": (260, 0, 7)}
OUTSTANDING_NOW = 1405  # + 300 after the range

SIGNUPS_BY_DAY = [0, 0, 1, 0, 0, 1, 0]
MEMBERS_BY_DAY = [1, 1, 2, 2, 2, 3, 3]

ASSIGNED_BY_DAY = [0, 0, 1, 0, 1, 2, 1]
USED_BY_DAY = [0, 0, 1, 0, 1, 1, 0]
# Per book: (assigned, used) in the range.
PER_BOOK = {"Five off": (2, 2), "Ten percent": (2, 1), "Free cake": (1, 0)}
DISCOUNTS_BY_MONTH = {"2026-03": (2, Decimal("10.00")), "2026-04": (1, Decimal("0.00"))}

COMPLETIONS_BY_DAY = [0, 0, 1, 0, 0, 2, 0]
# Tier levels at the end of each day: (Bronze, Silver, Gold).
TIERS_BY_DAY = [(0, 1, 0), (0, 1, 0), (1, 1, 0), (1, 1, 0), (1, 1, 0), (0, 1, 1), (0, 1, 1)]
REFERRALS_MADE_BY_DAY = [0, 0, 1, 0, 0, 1, 0]
REFERRALS_COMPLETED_BY_DAY = [0, 0, 0, 0, 0, 1, 0]
# Events of these types in the range, counted by hand from the table above.
EVENT_COUNTS = {"member-created": 2, "mission-status-updated": 2, "coupon-code-used": 4, "referral-completed": 1}


@dataclass
class World:
    org: factories.OrgBundle
    other: factories.OrgBundle
    anna: object
    ben: object
    cleo: object
    dora: object
    books: dict
    mission: object
    tier_list: list


@contextmanager
def at(session, moment: dt.datetime):
    """Travel to `moment`; what happens there is flushed before leaving it, so that its rows are stamped with it."""
    with time_machine.travel(moment, tick=False):
        yield
        session.flush()


def build(session, org: factories.OrgBundle, other: factories.OrgBundle) -> World:
    org.org.timezone = TIMEZONE
    session.flush()
    actor = org.actor
    account = factories.points_account(session, org)
    account.expires_in_months = 12
    tier_list = factories.make_tiers(session, org)
    bronze, silver, gold = tier_list
    custom_events.create_event_type(session, org.id, name="review-written", actor=actor)
    mission = missions.create_mission(session, org.id, actor=actor, name="Write a review", event_type="review-written",
                                      goal_count=1)
    program = referrals.create_program(session, org.id, actor=actor, name="Friends")
    books = {name: coupons.create_book(session, org.id, actor=actor, name=name, type=kind,
                                       publishing_status=coupons.PUBLISHED, **extra)
             for name, kind, extra in (
                 ("Five off", coupons.DISCOUNT, {"discount_type": coupons.FIXED, "discount_amount": 5}),
                 ("Ten percent", coupons.DISCOUNT, {"discount_type": coupons.PERCENTAGE, "discount_amount": 10}),
                 ("Free cake", coupons.REWARD, {}))}

    def mint(member, amount):
        return points.mint_to_member(session, member, amount, actor=actor, reason=Reason(description="test"))

    with at(session, YEAR_BEFORE):
        anna = factories.make_member(session, org, givenName="Anna", familyName="Adler")
        mint(anna, 7)
    with at(session, BEFORE):
        mint(anna, 1000)
        tiers.set_tier(session, anna.id, org.program, silver, actor=actor)
        code = referrals.create_code(session, program, anna, actor=actor, code="ANNA-FRIENDS")
        coupons.use_coupon(session, anna, books["Free cake"], actor=actor)
    with at(session, MAR27):
        mint(anna, 10)
    with at(session, MAR29):
        ben = factories.make_member(session, org, givenName="Ben", familyName="Berg")
        mint(ben, 20)
        coupons.use_coupon(session, ben, books["Five off"], actor=actor)
        missions.increment(session, ben, mission, 1, actor=actor)
        tiers.set_tier(session, ben.id, org.program, bronze, actor=actor)
        ben_referral = referrals.attach_referral(session, ben, code.code, actor=actor)
    with at(session, MAR30):
        points.burn_from_member(session, ben, 5, actor=actor, reason=Reason(description="coffee"))
    with at(session, MAR30_NOON):
        ledger.mint(session, account, factories.wallet_of(session, org, anna), 999, actor=actor, pending=True)
    with at(session, MAR31):
        reverted_later = mint(anna, 40).transactions[0]
        coupons.use_coupon(session, anna, books["Five off"], actor=actor)
    with at(session, APR1):
        cleo = factories.make_member(session, org, givenName="Cleo", familyName="Clausen")
        mint(anna, 80)
        coupons.use_coupon(session, anna, books["Ten percent"], actor=actor)
        coupons.assign_coupons(session, ben, books["Free cake"], actor=actor)
        missions.increment(session, anna, mission, 2, actor=actor)
        tiers.set_tier(session, ben.id, org.program, gold, actor=actor)
        referrals.complete_referral(session, ben_referral, program, actor=actor)
        referrals.attach_referral(session, cleo, code.code, actor=actor)
    with at(session, APR1_NOON):
        assert expiry.expire_due(session) == 7
    with at(session, APR2):
        ledger.revert(session, reverted_later, actor=actor)
        used = coupons.use_coupon(session, ben, books["Ten percent"], actor=actor)
        coupons.revert_usage(session, org.id, used.usages[-1].id, actor=actor)
    with at(session, AFTER):
        dora = factories.make_member(session, org, givenName="Dora", familyName="Dietz")
        mint(anna, 300)  # 3 April in Berlin, out of the range; but 2 April in UTC: in POINTS_BY_MONTH_UTC's April
        coupons.use_coupon(session, anna, books["Free cake"], actor=actor)
        missions.increment(session, anna, mission, 1, actor=actor)
        tiers.set_tier(session, anna.id, org.program, gold, actor=actor)
        referrals.attach_referral(session, dora, code.code, actor=actor)
    _elsewhere(session, other)
    return World(org=org, other=other, anna=anna, ben=ben, cleo=cleo, dora=dora, books=books, mission=mission,
                 tier_list=tier_list)


def _elsewhere(session, other: factories.OrgBundle) -> None:
    """The other organisation's activity in the same days: members, points, a coupon, a mission, tiers."""
    other.org.timezone = TIMEZONE
    actor = other.actor
    book = coupons.create_book(session, other.id, actor=actor, name="Theirs", type=coupons.DISCOUNT,
                               publishing_status=coupons.PUBLISHED, discount_type=coupons.FIXED, discount_amount=50)
    custom_events.create_event_type(session, other.id, name="review-written", actor=actor)
    mission = missions.create_mission(session, other.id, actor=actor, name="Theirs", event_type="review-written",
                                      goal_count=1)
    bronze = factories.make_tiers(session, other)[0]
    for moment in (MAR29, APR1):
        with at(session, moment):
            member = factories.make_member(session, other)
            points.mint_to_member(session, member, 5000, actor=actor, reason=Reason(description="theirs"))
            coupons.use_coupon(session, member, book, actor=actor)
            missions.increment(session, member, mission, 3, actor=actor)
            tiers.set_tier(session, member.id, other.program, bronze, actor=actor)
