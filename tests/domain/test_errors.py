"""One error class per broken rule, each with its own code (the API's problem `type`), so that a
client tells the rules apart without reading the message."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

import portal.domain.models  # noqa: F401  (imports every domain module, so every error class exists)
from portal.domain import audiences, coupons, custom_events, ledger, orders, referrals
from portal.domain.errors import (Conflict, DomainError, InsufficientBalance, LedgerAccountNotActive, NotPending,
                                  NotRevertible, ValidationFailed)
from portal.domain.orders import ItemInput, OrderInput
from tests import factories

from .conftest import fails_cleanly


def error_classes() -> list[type[DomainError]]:
    found, todo = [], [DomainError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("portal."):
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_class_names_its_own_code():
    classes = error_classes()
    assert len(classes) > 30
    without = [cls.__name__ for cls in classes if "code" not in vars(cls) or "title" not in vars(cls)]
    assert without == []
    by_code: dict[str, list[str]] = {}
    for cls in classes:
        by_code.setdefault(cls.code, []).append(cls.__name__)
    assert {code: names for code, names in by_code.items() if len(names) > 1} == {}


def test_named_rules_are_still_the_general_kind():
    """`except Conflict` (or ValidationFailed) in a face still catches the named rule."""
    for cls in (InsufficientBalance, LedgerAccountNotActive, NotPending, NotRevertible, orders.OrderAlreadyReturned,
                orders.OrderAlreadyCancelled, orders.OrderNotConfirmed, orders.ReturnedTotalDecreased,
                orders.OrderOfAnotherMember, coupons.CouponBookArchived):
        assert issubclass(cls, Conflict) and cls.status == 409, cls
    for cls in (referrals.ReferralCodeUnknown, referrals.AlreadyReferred, custom_events.UnknownEventType,
                custom_events.EventTypeNotTrackable, audiences.NotAListAudience):
        assert issubclass(cls, ValidationFailed) and cls.status == 422, cls


# --- the ledger -------------------------------------------------------------------------------------

def test_an_over_burn_is_insufficient_balance(session, org):
    member = factories.make_member(session, org)
    factories.give_points(session, org, member, 30)
    wallet = factories.wallet_of(session, org, member)
    with fails_cleanly(session, InsufficientBalance) as error:
        ledger.burn(session, factories.points_account(session, org), wallet, 31, actor=org.actor)
    assert (error.value.code, error.value.field) == ("insufficient_balance", "amount")
    session.refresh(wallet)
    assert wallet.balance == 30


def test_a_movement_of_the_wrong_kind_for_its_wallets_is_refused(session, org):
    """`post` keeps mints, burns and transfers between the wallets their kind names."""
    account = factories.points_account(session, org)
    wallet = factories.wallet_of(session, org, factories.make_member(session, org))
    burned = ledger.system_wallet(session, account, ledger.BURNED)
    with pytest.raises(ValueError):
        ledger.post(session, kind=ledger.MINT, account=account, source=burned, target=wallet, amount=5,
                    actor=org.actor)
    assert ledger.totals(session, account.id)["minted"] == 0


# --- orders --------------------------------------------------------------------------------------------

def order(status, returned_total=None):
    return OrderInput(external_id="o-1", status=status, total=Decimal("40"), returned_total=returned_total,
                      items=[ItemInput(sku="A", quantity=1, unit_price=Decimal("40"))])


@pytest.mark.parametrize("first, then, error, code", [
    (["confirmed", "returned"], order("partially-returned", Decimal("10")), orders.OrderAlreadyReturned,
     "order_already_returned"),
    (["confirmed", "cancelled"], order("confirmed"), orders.OrderAlreadyCancelled, "order_already_cancelled"),
    (["created"], order("returned"), orders.OrderNotConfirmed, "order_not_confirmed"),
])
def test_each_refused_order_change_names_its_rule(session, org, first, then, error, code):
    member = factories.make_member(session, org)
    for status in first:
        orders.record_order(session, member, order(status), actor=org.actor)
    with fails_cleanly(session, error) as caught:
        orders.record_order(session, member, then, actor=org.actor)
    assert (caught.value.code, caught.value.field) == (code, "status")


def test_returned_total_cannot_go_down(session, org):
    member = factories.make_member(session, org)
    orders.record_order(session, member, order("confirmed"), actor=org.actor)
    orders.record_order(session, member, order("partially-returned", Decimal("25")), actor=org.actor)
    with fails_cleanly(session, orders.ReturnedTotalDecreased) as caught:
        orders.record_order(session, member, order("partially-returned", Decimal("10")), actor=org.actor)
    assert caught.value.field == "returnedTotal"


# --- referrals, event types, audiences, coupon books -----------------------------------------------------

def test_joining_with_a_code_names_what_is_wrong(session, org):
    friend = factories.make_member(session, org)
    with fails_cleanly(session, referrals.ReferralCodeUnknown):
        referrals.attach_referral(session, friend, "NO-SUCH-CODE", actor=org.actor)
    program = referrals.create_program(session, org.id, actor=org.actor, name="Friends", referrer_points=10)
    code = referrals.create_code(session, program, factories.make_member(session, org), actor=org.actor)
    referrals.attach_referral(session, friend, code.code, actor=org.actor)
    with fails_cleanly(session, referrals.AlreadyReferred):
        referrals.attach_referral(session, friend, code.code, actor=org.actor)
    referrals.update_program(session, program, actor=org.actor,
                             valid_to=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc),
                             valid_from=dt.datetime(1999, 1, 1, tzinfo=dt.timezone.utc))
    with fails_cleanly(session, referrals.ReferralProgramNotRunning):
        referrals.validate_code(session, org.id, code.code)


def test_tracking_names_why_an_event_type_cannot_be_tracked(session, org):
    member = factories.make_member(session, org)
    custom_events.create_event_type(session, org.id, name="app-review", actor=org.actor, active=False)
    for name, error in (("no-such-event", custom_events.UnknownEventType),
                        ("member-purchase-order-confirmed", custom_events.EventTypeNotTrackable),
                        ("app-review", custom_events.EventTypeNotTrackable)):
        with fails_cleanly(session, error) as caught:
            custom_events.track_event(session, member, name, actor=org.actor, system_unique_key=f"k-{name}")
        assert caught.value.field == "eventType"


def test_only_list_audiences_take_members(session, org):
    audience = audiences.create_audience(session, org.id, name="Berliners", actor=org.actor,
                                         rule='member.city == "Berlin"')
    with fails_cleanly(session, audiences.NotAListAudience):
        audiences.add_members(session, audience, [factories.make_member(session, org).id])


def test_an_archived_coupon_book_takes_no_codes(session, org):
    book = coupons.create_book(session, org.id, actor=org.actor, name="Ten off", type="DISCOUNT",
                               discount_type="fixed", discount_amount=Decimal("10"))
    coupons.set_publishing_status(session, book, coupons.ARCHIVED, actor=org.actor)
    with fails_cleanly(session, coupons.CouponBookArchived) as caught:
        coupons.import_codes(session, book, ["CODE-1"], actor=org.actor)
    assert caught.value.field == "publishingStatus"

