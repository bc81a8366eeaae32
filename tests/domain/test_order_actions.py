"""Staff actions on orders (orders.act_on_order): the reason is required and audited, the
points move as for a posted status change, and the order's effects can be read back."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.domain import campaigns, orders
from portal.domain.audit import AuditEntry
from portal.domain.errors import ValidationFailed
from portal.domain.orders import ItemInput, OrderInput
from tests import factories


def earn_one_per_euro(session, org):
    campaign = campaigns.create_campaign(session, org.id, code="BASE", name="Earn 1 per euro", actor=org.actor)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=["order.total > 0"],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"}])
    return campaign


def post(session, org, member, external_id="A-1", status="created", total="100"):
    return orders.record_order(session, member, OrderInput(
        external_id=external_id, status=status, total=Decimal(total), location_code="BER-01",
        items=[ItemInput(sku="SHOE", quantity=2, unit_price=Decimal(total) / 2)]), actor=org.actor).order


def balance(session, org, member) -> int:
    wallet = factories.wallet_of(session, org, member)
    session.refresh(wallet)
    return wallet.balance


def test_confirm_then_return_half_then_the_rest(session, org):
    campaign = earn_one_per_euro(session, org)
    member = factories.make_member(session, org)
    order = post(session, org, member)
    staff = factories.make_staff(session, org, roles=["orders:write"]).actor()

    orders.act_on_order(session, order, "confirm", reason="paid at the till", actor=staff)
    assert (order.status, order.points_awarded, balance(session, org, member)) == ("confirmed", 100, 100)

    result = orders.act_on_order(session, order, "partial-return", reason="one shoe back", actor=staff,
                                 returned_total=Decimal("50"))
    assert (order.status, result.points_taken_back, balance(session, org, member)) == ("partially-returned", 50, 50)

    orders.act_on_order(session, order, "return", reason="the other one too", actor=staff)
    assert (order.status, order.points_awarded, balance(session, org, member)) == ("returned", 0, 0)

    found = orders.effects_of(session, order)
    assert [(e.type, e.points, e.campaign_id) for e in found.effects] == [("award_points", 100, campaign.id)]
    points_account = org.program.points_account_id
    assert [(tx.type, tx.amount) for tx in found.transactions if tx.ledger_account_id == points_account] == [
        ("mint", 100), ("burn", 50), ("burn", 50)]
    assert len(found.transactions) == 6  # the same three on the tier points account
    reasons = [(e.action, e.details.get("reason"), e.actor_id) for e in found.history if e.actor_kind == "staff"]
    assert reasons == [("order.confirmed", "paid at the till", staff.id),
                       ("order.partially_returned", "one shoe back", staff.id),
                       ("order.returned", "the other one too", staff.id)]


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reason_is_required(session, org, reason):
    member = factories.make_member(session, org)
    order = post(session, org, member)
    with pytest.raises(ValidationFailed) as refused:
        orders.act_on_order(session, order, "cancel", reason=reason, actor=org.actor)
    assert refused.value.field == "reason"
    assert order.status == "created"


def test_refusals_name_the_broken_rule(session, org):
    earn_one_per_euro(session, org)
    member = factories.make_member(session, org)
    order = post(session, org, member, status="confirmed")
    with pytest.raises(orders.OrderAlreadyConfirmed):
        orders.act_on_order(session, order, "confirm", reason="again", actor=org.actor)
    with pytest.raises(ValidationFailed) as refused:
        orders.act_on_order(session, order, "partial-return", reason="nothing", actor=org.actor,
                            returned_total=Decimal("0"))
    assert refused.value.field == "returnedTotal"
    with pytest.raises(ValidationFailed) as refused:
        orders.act_on_order(session, order, "partial-return", reason="too much", actor=org.actor,
                            returned_total=Decimal("101"))
    assert refused.value.field == "returnedTotal"
    created = post(session, org, member, external_id="A-2")
    with pytest.raises(orders.OrderNotConfirmed):
        orders.act_on_order(session, created, "return", reason="not yet paid", actor=org.actor)
    orders.act_on_order(session, created, "cancel", reason="never paid", actor=org.actor)
    with pytest.raises(orders.OrderAlreadyCancelled):
        orders.act_on_order(session, created, "confirm", reason="too late", actor=org.actor)
    assert balance(session, org, member) == 100


def test_cancelling_a_confirmed_order_takes_back_all_points(session, org):
    earn_one_per_euro(session, org)
    member = factories.make_member(session, org)
    order = post(session, org, member, status="confirmed", total="40")
    result = orders.act_on_order(session, order, "cancel", reason="fraud", actor=org.actor)
    assert (order.status, result.points_taken_back, balance(session, org, member)) == ("cancelled", 40, 0)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "order.cancelled")).one()
    assert entry.details["reason"] == "fraud"


def test_list_query_filters(session, org, other_org):
    alice = factories.make_member(session, org, email="alice@example.com")
    bob = factories.make_member(session, org)
    post(session, org, alice, "A-1")
    post(session, org, bob, "B-1", status="cancelled")
    post(session, other_org, factories.make_member(session, other_org, email="alice@example.com"), "A-1")
    ids = lambda **f: sorted(o.external_id for o in session.scalars(orders.list_query(org.id, **f)))  # noqa: E731
    assert ids() == ["A-1", "B-1"]
    assert ids(member="Alice@Example.com") == ["A-1"]
    assert ids(member=bob.loyalty_member_id) == ["B-1"]
    assert ids(status="cancelled") == ["B-1"]
    assert ids(location_code="HAM-02") == []
    assert orders.location_codes(session, org.id) == ["BER-01"]
    with pytest.raises(ValidationFailed):
        ids(status="lost")
