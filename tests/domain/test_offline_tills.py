"""Offline tills: an order's systemUniqueKey is an idempotency key; late purchases earn by their own date."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from portal.domain import campaigns, orders, tiers
from portal.domain.errors import IdempotencyKeyReused
from portal.domain.ledger import LedgerTransaction
from portal.domain.orders import PurchaseOrder
from tests import factories
from tests.domain.test_earning import balance, base_campaign, order
from tests.factories import count


@pytest.mark.parametrize("other", [
    dict(external_id="r-2"),
    dict(total="31.00"),
    dict(location="HAM-02"),
], ids=["another externalId", "another total", "another body"])
def test_the_same_key_with_another_order_is_refused_and_earns_nothing(session, org, other):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    orders.record_order(session, member, order("r-1", "30.00", system_unique_key="till-1"), actor=org.actor)
    transactions = count(session, LedgerTransaction)
    fields = {"external_id": "r-1", "total": "30.00", **other}
    with pytest.raises(IdempotencyKeyReused) as refused:
        orders.record_order(session, member, order(fields.pop("external_id"), fields.pop("total"),
                                                   system_unique_key="till-1", **fields), actor=org.actor)
    assert refused.value.errors == {"systemUniqueKey": [refused.value.message]}
    assert count(session, PurchaseOrder) == 1 and count(session, LedgerTransaction) == transactions
    assert balance(session, org, member) == 30


def test_the_same_key_with_the_same_order_replays_the_first_result(session, org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    first = orders.record_order(session, member, order("r-1", "30.00", system_unique_key="till-1"), actor=org.actor)
    again = orders.record_order(session, member, order("r-1", "30.00", system_unique_key="till-1"), actor=org.actor)
    assert again.replayed and not first.replayed
    assert again.order.id == first.order.id and again.changed
    assert again.evaluation.as_dict() == first.evaluation.as_dict()
    assert again.evaluation.points_awarded == 30
    assert balance(session, org, member) == 30


def test_a_key_is_per_organisation_and_orders_without_a_key_still_work(session, org, other_org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    orders.record_order(session, member, order("r-1", "30.00", system_unique_key="till-1"), actor=org.actor)
    orders.record_order(session, member, order("r-2", Decimal("12.00")), actor=org.actor)
    stranger = factories.make_member(session, other_org)
    elsewhere = orders.record_order(session, stranger, order("r-1", "30.00", system_unique_key="till-1"),
                                    actor=other_org.actor)
    assert not elsewhere.replayed and elsewhere.order.organization_id == other_org.id
    assert balance(session, org, member) == 42


# --- late purchases earn by what held at their date ----------------------------------------

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TODAY = dt.datetime(2026, 3, 2, tzinfo=UTC)
YESTERDAY_NOON = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def late(external_id, total, when, **extra):
    return order(external_id, total, external_event_date=when, **extra)


def test_a_campaign_that_ended_yesterday_still_earns_on_yesterdays_purchase(session, org):
    base_campaign(session, org, code="OLD", valid_to=TODAY)
    base_campaign(session, org, code="NEW", valid_from=TODAY)
    member = factories.make_member(session, org)
    with time_machine.travel(NOW, tick=False):
        yesterdays = orders.record_order(session, member, late("y-1", "20.00", YESTERDAY_NOON), actor=org.actor)
        todays = orders.record_order(session, member, late("t-1", "7.00", NOW - dt.timedelta(hours=1)),
                                     actor=org.actor)
    assert [e.source for e in yesterdays.evaluation.effects] == ["campaign:OLD"]
    assert [e.source for e in todays.evaluation.effects] == ["campaign:NEW"]
    assert balance(session, org, member) == 27


def test_a_late_purchase_counts_toward_the_cap_of_its_own_month(session, org):
    base_campaign(session, org, monthly_points_cap=50, timezone="Europe/Berlin")
    member = factories.make_member(session, org)
    with time_machine.travel(NOW, tick=False):
        march = orders.record_order(session, member, order("m-1", "60.00"), actor=org.actor)
        february = orders.record_order(session, member, late("f-1", "40.00", dt.datetime(2026, 2, 27, 9, tzinfo=UTC)),
                                       actor=org.actor)
        february_more = orders.record_order(session, member,
                                            late("f-2", "20.00", dt.datetime(2026, 2, 28, 9, tzinfo=UTC)),
                                            actor=org.actor)
        # 23:30 UTC on 28 February is already March in Berlin, the campaign's timezone: March is full.
        berlin_march = orders.record_order(session, member,
                                           late("f-3", "20.00", dt.datetime(2026, 2, 28, 23, 30, tzinfo=UTC)),
                                           actor=org.actor)
    assert [o.order.points_awarded for o in (march, february, february_more, berlin_march)] == [50, 40, 10, 0]
    assert balance(session, org, member) == 100


def test_a_late_purchase_earns_by_the_tier_the_member_held_at_its_date(session, org):
    bronze, _, gold = factories.make_tiers(session, org)
    base_campaign(session, org, code="GOLD", tier_ids=[gold.id])
    member = factories.make_member(session, org)
    with time_machine.travel(dt.datetime(2026, 2, 20, tzinfo=UTC), tick=False):
        tiers.set_tier(session, member.id, org.program, gold, actor=org.actor)
    with time_machine.travel(TODAY + dt.timedelta(hours=8), tick=False):
        tiers.set_tier(session, member.id, org.program, bronze, actor=org.actor)
    with time_machine.travel(NOW, tick=False):
        as_gold = orders.record_order(session, member, late("g-1", "20.00", YESTERDAY_NOON), actor=org.actor)
        as_bronze = orders.record_order(session, member, order("b-1", "20.00"), actor=org.actor)
        before_gold = orders.record_order(session, member, late("b-0", "20.00", dt.datetime(2026, 2, 10, tzinfo=UTC)),
                                          actor=org.actor)
    assert [o.order.points_awarded for o in (as_gold, as_bronze, before_gold)] == [20, 0, 0]


def test_a_purchase_older_than_the_window_is_refused_and_earns_nothing(session, org):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    with time_machine.travel(NOW, tick=False):
        with pytest.raises(orders.PurchaseTooLate) as refused:
            orders.record_order(session, member, late("old-1", "20.00", NOW - dt.timedelta(days=30, minutes=1)),
                                actor=org.actor)
        assert list(refused.value.errors) == ["externalEventDate"]
        with pytest.raises(orders.PurchaseTooLate):
            orders.simulate(session, member, late("old-1", "20.00", NOW - dt.timedelta(days=31)), actor=org.actor)
        kept = orders.record_order(session, member, late("ok-1", "20.00", NOW - dt.timedelta(days=29)),
                                   actor=org.actor)
    assert kept.order.points_awarded == 20
    assert balance(session, org, member) == 20


def test_the_late_purchase_window_is_configurable(session, org, monkeypatch):
    base_campaign(session, org)
    member = factories.make_member(session, org)
    monkeypatch.setattr(orders, "late_purchase_window", orders.late_purchase_window)
    orders.configure(late_purchase_days=3)
    with time_machine.travel(NOW, tick=False):
        with pytest.raises(orders.PurchaseTooLate):
            orders.record_order(session, member, late("l-1", "20.00", NOW - dt.timedelta(days=4)), actor=org.actor)
        assert orders.record_order(session, member, late("l-2", "20.00", NOW - dt.timedelta(days=2)),
                                   actor=org.actor).order.points_awarded == 20


def test_an_offline_batch_across_a_campaigns_end_and_a_month_boundary_earns_the_table_sent_twice(session, org):
    """50 purchases of 10.00, dated 20 Feb..4 Mar. OLD (1/EUR, cap 100 a month) ended 1 Mar 00:00 UTC;
    NEW (2/EUR) started then. By hand: February's 25 purchases give OLD 250, capped at 100; March's 25 give
    NEW 25 x 20 = 500. Total 600, whatever the order and however often the batch is sent."""
    import random

    base_campaign(session, org, code="OLD", valid_to=dt.datetime(2026, 3, 1, tzinfo=UTC), monthly_points_cap=100)
    new = campaigns.create_campaign(session, org.id, code="NEW", name="Double", actor=org.actor,
                                    valid_from=dt.datetime(2026, 3, 1, tzinfo=UTC))
    campaigns.add_action(session, new, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 2, "per": "1"}])
    member = factories.make_member(session, org)
    february = [dt.datetime(2026, 2, 20, 9, tzinfo=UTC) + dt.timedelta(hours=8 * n) for n in range(25)]
    march = [dt.datetime(2026, 3, 1, 0, 30, tzinfo=UTC) + dt.timedelta(hours=3 * n) for n in range(25)]
    sent = dt.datetime(2026, 3, 5, 12, tzinfo=UTC)
    assert february[-1] < dt.datetime(2026, 3, 1, tzinfo=UTC) and march[-1] < sent
    batch = [late(f"b-{n}", "10.00", when, system_unique_key=f"till-2-{n}")
             for n, when in enumerate(february + march)]
    shuffler = random.Random(12)
    earned = {}
    with time_machine.travel(sent, tick=False):
        for sending in range(2):
            rows = batch[:]
            shuffler.shuffle(rows)
            results = orders.import_orders(session, org.id, [(member, row, None) for row in rows], actor=org.actor)
            assert all(r["status"] == "ok" for r in results)
            earned[sending] = sum(r["pointsEarned"] for r in results)
            assert {r["outcome"] for r in results} == ({"applied"} if sending == 0 else {"replayed"})
    by_order = {o.external_id: o.points_awarded for o in session.scalars(select(PurchaseOrder))}
    assert sum(by_order[f"b-{n}"] for n in range(25)) == 100
    assert all(by_order[f"b-{n}"] == 20 for n in range(25, 50))
    assert earned == {0: 600, 1: 0}
    assert balance(session, org, member) == 600
