"""Offline tills: an order's systemUniqueKey is an idempotency key; late purchases earn by their own date."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.domain import orders
from portal.domain.errors import IdempotencyKeyReused
from portal.domain.ledger import LedgerTransaction
from portal.domain.orders import PurchaseOrder
from tests import factories
from tests.domain.test_earning import balance, base_campaign, order


def count(session, model) -> int:
    session.flush()
    return session.scalar(select(func.count()).select_from(model))


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
