"""The ledger's promises, one movement at a time (see portal/domain/ledger.py)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from portal.domain import ledger, members, points
from portal.domain.actors import Actor
from portal.domain.errors import (AccountNotActive, AlreadyResolved, IdempotencyKeyReused, InsufficientBalance,
                                  LedgerAccountNotActive, MaxSupplyExceeded, NotFound, NotPending, NotRevertible,
                                  ValidationFailed)
from portal.domain.ledger import LedgerEntry, LedgerTransaction, Reason, Wallet
from portal.domain.points import TransferRequest

from ..factories import make_member, make_org, points_account, wallet_of
from .conftest import fails_cleanly, row_counts


@pytest.fixture
def clerk(org):
    return Actor(kind="staff", id=42, organization_id=org.id, label="clerk@example.com", roles=frozenset({"admin"}))


@pytest.fixture
def account(session, org):
    return points_account(session, org)


@pytest.fixture
def alice(session, org):
    return make_member(session, org, givenName="Alice")


@pytest.fixture
def bob(session, org):
    return make_member(session, org, givenName="Bob")


def balance(session, wallet) -> int:
    """What the wallet holds: a member wallet's row, a system wallet's row and shards."""
    return ledger.balances_of(session, [wallet.id])[wallet.id]


def state(session, wallet) -> tuple[int, int, int]:
    session.expire(wallet)
    return wallet.balance, wallet.held, wallet.pending_in


def entries_of(session, tx) -> list[tuple[int, int]]:
    return sorted(session.execute(select(LedgerEntry.wallet_id, LedgerEntry.amount)
                                  .where(LedgerEntry.transaction_id == tx.id)).all())


def entry_sum(session, wallet) -> int:
    return session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                          .where(LedgerEntry.wallet_id == wallet.id))


def mint(session, account, wallet, amount, actor, **kw):
    return ledger.mint(session, account, wallet, amount, actor=actor, **kw)


def pending_burn(session, account, wallet, actor, *, minted: int, held: int):
    """`minted` points minted into the wallet, then `held` of them held by a pending burn (returned)."""
    mint(session, account, wallet, minted, actor)
    return ledger.burn(session, account, wallet, held, actor=actor, pending=True)


# --- mint, burn, transfer -----------------------------------------------------------------

def test_mint_credits_the_member_and_debits_issuance(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    tx = mint(session, account, wallet, 70, clerk)
    issuance = ledger.system_wallet(session, account, ledger.ISSUANCE)
    assert (tx.type, tx.status, tx.amount) == ("mint", "posted", 70)
    assert entries_of(session, tx) == sorted([(issuance.id, -70), (wallet.id, 70)])
    assert balance(session, wallet) == 70 == entry_sum(session, wallet)
    assert balance(session, issuance) == -70
    assert ledger.totals(session, account.id) == {"minted": 70, "burned": 0, "circulating": 70,
                                                  "memberBalances": 70}


def test_an_event_time_at_another_offset_is_kept_as_the_same_moment_in_utc(session, org, account, alice, clerk):
    # post_all finds the rows it inserted by their values: a time at +02:00 came back as UTC and was not found
    at_two = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    wallet = wallet_of(session, org, alice)
    processed, failed = points.post_batch(session, org.id, [
        TransferRequest(amount=n, ledger_account_id=account.id, to_wallet_id=wallet.id,
                        reason=Reason(external_event_date=at_two)) for n in (1, 2)], actor=clerk)
    assert failed == [] and [tx.amount for tx in processed] == [1, 2]
    session.expire_all()
    stored = session.get(LedgerTransaction, processed[0].id).external_event_date
    assert stored == at_two and stored.utcoffset() == dt.timedelta(0)


def test_burn_debits_the_member_and_credits_burned(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    mint(session, account, wallet, 70, clerk)
    tx = ledger.burn(session, account, wallet, 30, actor=clerk)
    burned = ledger.system_wallet(session, account, ledger.BURNED)
    assert tx.type == "burn"
    assert entries_of(session, tx) == sorted([(wallet.id, -30), (burned.id, 30)])
    assert balance(session, wallet) == 40
    assert ledger.totals(session, account.id)["burned"] == 30
    assert ledger.totals(session, account.id)["circulating"] == 40


def test_burn_beyond_the_balance_is_refused_and_writes_nothing(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    mint(session, account, wallet, 70, clerk)
    before = row_counts(session)
    with fails_cleanly(session, InsufficientBalance) as error:
        ledger.burn(session, account, wallet, 71, actor=clerk)
    assert error.value.field == "amount" and error.value.status == 409
    assert balance(session, wallet) == 70
    assert row_counts(session) == before


def test_transfer_moves_points_between_members(session, org, account, alice, bob, clerk):
    a, b = wallet_of(session, org, alice), wallet_of(session, org, bob)
    mint(session, account, a, 50, clerk)
    tx = ledger.transfer(session, account, a, b, 20, actor=clerk)
    assert tx.type == "transfer" and (tx.from_wallet_id, tx.to_wallet_id) == (a.id, b.id)
    assert (balance(session, a), balance(session, b)) == (30, 20)
    with fails_cleanly(session, InsufficientBalance):
        ledger.transfer(session, account, b, a, 21, actor=clerk)
    with fails_cleanly(session, ValidationFailed):
        ledger.transfer(session, account, a, a, 1, actor=clerk)
    assert (balance(session, a), balance(session, b)) == (30, 20)
    assert ledger.totals(session, account.id)["memberBalances"] == 50


@pytest.mark.parametrize("amount", [0, -1, 1.5, "10", True, ledger.MAX_AMOUNT + 1, 2 ** 63])
def test_amount_must_be_a_positive_whole_number(session, org, account, alice, clerk, amount):
    wallet = wallet_of(session, org, alice)
    before = row_counts(session)
    with fails_cleanly(session, ValidationFailed) as error:
        mint(session, account, wallet, amount, clerk)
    assert error.value.field == "amount"
    assert row_counts(session) == before


def test_wallet_of_another_account_is_refused(session, org, account, alice, clerk):
    tier_account = session.get(ledger.LedgerAccount, org.program.tier_points_account_id)
    tier_wallet = ledger.member_wallet(session, tier_account, alice.id)
    with fails_cleanly(session, ValidationFailed):
        mint(session, account, tier_wallet, 10, clerk)


def test_an_inactive_ledger_account_moves_nothing(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    account.active = False
    session.flush()
    with fails_cleanly(session, LedgerAccountNotActive):
        mint(session, account, wallet, 10, clerk)


# --- pending (manual capture) ---------------------------------------------------------------------

def test_pending_burn_holds_then_full_capture_posts(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    hold = pending_burn(session, account, wallet, clerk, minted=100, held=60)
    assert hold.status == "pending" and entries_of(session, hold) == []
    assert state(session, wallet) == (100, 60, 0)
    assert wallet.available == 40
    # What is held cannot be spent twice.
    with fails_cleanly(session, InsufficientBalance):
        ledger.burn(session, account, wallet, 41, actor=clerk)
    capture = ledger.capture(session, hold, actor=clerk)
    assert (capture.type, capture.amount, capture.pending_id) == ("capture", 60, hold.id)
    assert state(session, wallet) == (40, 0, 0)
    assert ledger.transaction_state(session, hold) == "captured"
    assert ledger.totals(session, account.id)["burned"] == 60


def test_partial_capture_posts_part_and_releases_the_rest(session, org, account, alice, bob, clerk):
    a, b = wallet_of(session, org, alice), wallet_of(session, org, bob)
    mint(session, account, a, 100, clerk)
    hold = ledger.transfer(session, account, a, b, 80, actor=clerk, pending=True)
    assert state(session, a) == (100, 80, 0) and state(session, b) == (0, 0, 80)
    capture = ledger.capture(session, hold, actor=clerk, amount=30)
    assert capture.amount == 30
    assert state(session, a) == (70, 0, 0) and state(session, b) == (30, 0, 0)


@pytest.mark.parametrize("amount", [0, 81])
def test_capture_amount_must_be_within_the_hold(session, org, account, alice, bob, clerk, amount):
    a, b = wallet_of(session, org, alice), wallet_of(session, org, bob)
    mint(session, account, a, 100, clerk)
    hold = ledger.transfer(session, account, a, b, 80, actor=clerk, pending=True)
    with fails_cleanly(session, ValidationFailed) as error:
        ledger.capture(session, hold, actor=clerk, amount=amount)
    assert error.value.field == "captureAmount"
    assert state(session, a) == (100, 80, 0)


def test_pending_mint_shows_incoming_until_captured(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    hold = mint(session, account, wallet, 25, clerk, pending=True)
    assert state(session, wallet) == (0, 0, 25)
    assert ledger.totals(session, account.id)["minted"] == 0
    ledger.capture(session, hold, actor=clerk)
    assert state(session, wallet) == (25, 0, 0)
    assert ledger.totals(session, account.id)["minted"] == 25


def test_void_releases_the_hold(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    hold = pending_burn(session, account, wallet, clerk, minted=100, held=60)
    voided = ledger.void(session, hold, actor=clerk)
    assert (voided.type, voided.pending_id) == ("void", hold.id)
    assert entries_of(session, voided) == []
    assert state(session, wallet) == (100, 0, 0)
    assert ledger.transaction_state(session, hold) == "voided"


def test_a_pending_transaction_is_resolved_at_most_once(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    mint(session, account, wallet, 100, clerk)
    captured = ledger.burn(session, account, wallet, 10, actor=clerk, pending=True)
    voided = ledger.burn(session, account, wallet, 20, actor=clerk, pending=True)
    ledger.capture(session, captured, actor=clerk)
    ledger.void(session, voided, actor=clerk)
    for pending_tx in (captured, voided):
        with fails_cleanly(session, AlreadyResolved):
            ledger.capture(session, pending_tx, actor=clerk)
        with fails_cleanly(session, AlreadyResolved):
            ledger.void(session, pending_tx, actor=clerk)
    assert state(session, wallet) == (90, 0, 0)


def test_a_posted_transaction_cannot_be_captured(session, org, account, alice, clerk):
    posted = mint(session, account, wallet_of(session, org, alice), 10, clerk)
    with fails_cleanly(session, NotPending):
        ledger.capture(session, posted, actor=clerk)


def test_the_database_refuses_a_second_resolution_even_without_the_check(session, org, account, alice, clerk,
                                                                          monkeypatch):
    """The unique pending_id holds when two requests both passed the read check."""
    wallet = wallet_of(session, org, alice)
    mint(session, account, wallet, 100, clerk)
    hold = ledger.burn(session, account, wallet, 10, actor=clerk, pending=True)
    other_hold = ledger.burn(session, account, wallet, 30, actor=clerk, pending=True)
    ledger.capture(session, hold, actor=clerk)
    # As a concurrent void would: past the read check before the capture was written.
    monkeypatch.setattr(ledger, "_require_unresolved_pending", lambda session, tx: None)
    with fails_cleanly(session, AlreadyResolved):
        ledger.void(session, hold, actor=clerk)
    assert state(session, wallet) == (90, 30, 0) and ledger.transaction_state(session, other_hold) == "pending"


# --- revert ------------------------------------------------------------------------------

def test_revert_undoes_a_mint_with_a_reversing_transaction(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    original = mint(session, account, wallet, 40, clerk)
    undo = ledger.revert(session, original, actor=clerk)
    assert (undo.type, undo.reverts_id, undo.amount) == ("revert", original.id, 40)
    assert (undo.from_wallet_id, undo.to_wallet_id) == (original.to_wallet_id, original.from_wallet_id)
    assert balance(session, wallet) == 0
    assert ledger.transaction_state(session, original) == "reverted"
    # The original entries are still there: append-only.
    assert len(entries_of(session, original)) == 2
    assert ledger.totals(session, account.id)["minted"] == 0


def test_revert_is_refused_twice(session, org, account, alice, clerk):
    original = mint(session, account, wallet_of(session, org, alice), 40, clerk)
    undo = ledger.revert(session, original, actor=clerk)
    with fails_cleanly(session, AlreadyResolved):
        ledger.revert(session, original, actor=clerk)
    with fails_cleanly(session, NotRevertible):
        ledger.revert(session, undo, actor=clerk)
    assert balance(session, wallet_of(session, org, alice)) == 0


def test_revert_of_a_spent_mint_is_refused(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    original = mint(session, account, wallet, 40, clerk)
    ledger.burn(session, account, wallet, 15, actor=clerk)
    before = row_counts(session)
    with fails_cleanly(session, InsufficientBalance):
        ledger.revert(session, original, actor=clerk)
    assert balance(session, wallet) == 25
    assert row_counts(session) == before
    assert ledger.transaction_state(session, original) == "posted"


def test_revert_of_a_burn_gives_the_points_back(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    mint(session, account, wallet, 40, clerk)
    spent = ledger.burn(session, account, wallet, 15, actor=clerk)
    ledger.revert(session, spent, actor=clerk)
    assert balance(session, wallet) == 40
    assert ledger.totals(session, account.id)["burned"] == 0


def test_revert_of_a_pending_transaction_voids_it(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    hold = pending_burn(session, account, wallet, clerk, minted=40, held=15)
    undo = ledger.revert(session, hold, actor=clerk)
    assert undo.type == "void" and state(session, wallet) == (40, 0, 0)
    with fails_cleanly(session, AlreadyResolved):
        ledger.revert(session, hold, actor=clerk)


def test_revert_of_a_capture_returns_the_captured_part(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    hold = pending_burn(session, account, wallet, clerk, minted=40, held=15)
    capture = ledger.capture(session, hold, actor=clerk, amount=10)
    ledger.revert(session, capture, actor=clerk)
    assert state(session, wallet) == (40, 0, 0)


# --- max supply ----------------------------------------------------------------------------

def test_max_supply_caps_what_is_minted(session, org, alice, bob, clerk):
    book = session.get(ledger.Ledger, org.program.ledger_id)
    capped = ledger.create_account(session, book, name="Capped", max_supply=100)
    a, b = ledger.member_wallet(session, capped, alice.id), ledger.member_wallet(session, capped, bob.id)
    mint(session, capped, a, 60, clerk)
    mint(session, capped, b, 40, clerk)
    with fails_cleanly(session, MaxSupplyExceeded) as error:
        mint(session, capped, a, 1, clerk)
    assert error.value.field == "amount"
    # Burning does not make room: the cap is on what was ever minted.
    ledger.burn(session, capped, a, 60, actor=clerk)
    with fails_cleanly(session, MaxSupplyExceeded):
        mint(session, capped, a, 1, clerk)
    assert ledger.totals(session, capped.id)["minted"] == 100


def test_max_supply_is_checked_again_when_a_pending_mint_is_captured(session, org, alice, clerk):
    book = session.get(ledger.Ledger, org.program.ledger_id)
    capped = ledger.create_account(session, book, name="Capped", max_supply=50)
    wallet = ledger.member_wallet(session, capped, alice.id)
    hold = mint(session, capped, wallet, 30, clerk, pending=True)
    mint(session, capped, wallet, 30, clerk)
    with fails_cleanly(session, MaxSupplyExceeded):
        ledger.capture(session, hold, actor=clerk)
    ledger.capture(session, hold, actor=clerk, amount=20)
    assert state(session, wallet) == (50, 0, 0)


# --- member status ----------------------------------------------------------------------------

@pytest.mark.parametrize("change", [{"account_status": "LOCKED"}, {"active": False}])
def test_a_locked_or_inactive_member_neither_earns_nor_burns(session, org, account, alice, bob, clerk, change):
    a, b = wallet_of(session, org, alice), wallet_of(session, org, bob)
    mint(session, account, a, 50, clerk)
    mint(session, account, b, 50, clerk)
    members.update_member(session, alice, actor=clerk, **change)
    before = row_counts(session)
    for attempt in (lambda: mint(session, account, a, 10, clerk),
                    lambda: ledger.burn(session, account, a, 10, actor=clerk),
                    lambda: ledger.transfer(session, account, a, b, 10, actor=clerk),
                    lambda: ledger.transfer(session, account, b, a, 10, actor=clerk),
                    lambda: points.mint_to_member(session, alice, 10, actor=clerk, reason=Reason()),
                    lambda: points.burn_from_member(session, alice, 10, actor=clerk, reason=Reason())):
        with fails_cleanly(session, AccountNotActive) as error:
            attempt()
        assert error.value.status == 409
    assert row_counts(session) == before
    assert (balance(session, a), balance(session, b)) == (50, 50)
    members.update_member(session, alice, actor=clerk, account_status="ACTIVE", active=True)
    mint(session, account, a, 10, clerk)
    assert balance(session, a) == 60


@pytest.mark.parametrize("change", [{"account_status": "LOCKED"}, {"active": False}])
def test_a_batch_refuses_the_items_of_a_locked_or_inactive_member_alone(session, org, account, alice, bob, clerk,
                                                                        change):
    """A batch reads its members' standing with its locked wallets (no Member objects): the same refusals."""
    a, b = wallet_of(session, org, alice), wallet_of(session, org, bob)
    mint(session, account, a, 50, clerk)
    mint(session, account, b, 50, clerk)
    members.update_member(session, alice, actor=clerk, **change)
    session.flush()
    session.expunge(alice)  # the batch finds the standing in the database, not in this object
    items = [TransferRequest(amount=5, ledger_account_id=account.id, to_wallet_id=a.id),
             TransferRequest(amount=5, ledger_account_id=account.id, from_wallet_id=a.id),
             TransferRequest(amount=5, ledger_account_id=account.id, from_wallet_id=b.id, to_wallet_id=a.id),
             TransferRequest(amount=5, ledger_account_id=account.id, to_wallet_id=b.id)]
    processed, failed = points.post_batch(session, org.id, items, actor=clerk)
    assert [(f["index"], f["status"], f["title"]) for f in failed] == [
        (i, 409, failed[0]["title"]) for i in range(3)] and "items[0].memberId" in failed[0]["errors"]
    assert [t.to_wallet_id for t in processed] == [b.id] and (balance(session, a), balance(session, b)) == (50, 55)


def test_may_move_points_is_one_rule_in_python_and_in_sql(session, org, alice, clerk):
    """`Member.can_move_points` on a member and in a query (the batch's locked wallets read it) agree."""
    for active in (True, False):
        for status in (members.ACTIVE, members.LOCKED):
            members.update_member(session, alice, actor=clerk, account_status=status, active=active)
            session.flush()
            in_sql = session.scalar(select(members.Member.can_move_points).where(members.Member.id == alice.id))
            assert bool(in_sql) is alice.can_move_points is (active and status == members.ACTIVE)


# --- never negative ------------------------------------------------------------------------------

def test_the_database_refuses_a_negative_member_wallet(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    mint(session, account, wallet, 5, clerk)
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.execute(update(Wallet).where(Wallet.id == wallet.id).values(balance=-1))
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.execute(update(Wallet).where(Wallet.id == wallet.id).values(held=6))
    assert balance(session, wallet) == 5


def test_many_small_burns_stop_at_zero(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    mint(session, account, wallet, 70, clerk)
    done = refused = 0
    for _ in range(10):
        try:
            with session.begin_nested():
                ledger.burn(session, account, wallet, 10, actor=clerk)
            done += 1
        except InsufficientBalance:
            refused += 1
    assert (done, refused, balance(session, wallet)) == (7, 3, 0)


# --- transaction sets and batches -------------------------------------------------------------------

def _legs(org, account, a, b, count=10, bad_index=None):
    legs = []
    for index in range(count):
        amount = 10_000 if index == bad_index else 1
        if index % 2 == 0 and index != bad_index:
            legs.append(TransferRequest(amount=amount, ledger_account_id=account.id, to_wallet_id=a.id,
                                        reason=Reason(description=f"leg {index}")))
        else:
            legs.append(TransferRequest(amount=amount, ledger_account_id=account.id, from_wallet_id=a.id,
                                        to_wallet_id=b.id, reason=Reason(description=f"leg {index}")))
    return legs


def test_a_transaction_set_posts_every_leg_with_one_set_id(session, org, account, alice, bob, clerk):
    a, b = wallet_of(session, org, alice), wallet_of(session, org, bob)
    movement = points.post_transaction_set(session, org.id, account.ledger_id, _legs(org, account, a, b),
                                           actor=clerk)
    assert len(movement.transactions) == 10
    assert len({t.set_id for t in movement.transactions}) == 1 and movement.transactions[0].set_id
    assert (balance(session, a), balance(session, b)) == (0, 5)


def test_a_transaction_set_with_item_7_invalid_writes_nothing(session, org, account, alice, bob, clerk):
    a, b = wallet_of(session, org, alice), wallet_of(session, org, bob)
    before = row_counts(session)
    with fails_cleanly(session, InsufficientBalance) as error:
        points.post_transaction_set(session, org.id, account.ledger_id, _legs(org, account, a, b, bad_index=6),
                                    actor=clerk, system_unique_key="set-1")
    # Indexes count from 0, as in the validation errors for the same body: item 7 is transactions[6].
    assert error.value.field == "transactions[6].amount"
    assert list(error.value.errors) == ["transactions[6].amount"]
    assert "transactions[6]" in error.value.message
    assert row_counts(session) == before
    assert (balance(session, a), balance(session, b)) == (0, 0)


def test_a_transaction_set_names_an_unknown_wallet_by_its_index(session, org, other_org, account, alice, clerk):
    stranger = make_member(session, other_org)
    foreign = wallet_of(session, other_org, stranger)
    legs = [TransferRequest(amount=1, ledger_account_id=account.id, to_wallet_id=wallet_of(session, org, alice).id),
            TransferRequest(amount=1, ledger_account_id=account.id, to_wallet_id=foreign.id)]
    with fails_cleanly(session, NotFound) as error:
        points.post_transaction_set(session, org.id, account.ledger_id, legs, actor=clerk)
    assert error.value.field == "transactions[1].toWalletId"


def test_batch_items_succeed_alone_and_atomic_sets_together(session, org, account, alice, bob, clerk):
    a, b = wallet_of(session, org, alice), wallet_of(session, org, bob)
    mint(session, account, a, 10, clerk)
    items = [
        TransferRequest(amount=5, ledger_account_id=account.id, to_wallet_id=b.id),                     # ok
        TransferRequest(amount=99, ledger_account_id=account.id, from_wallet_id=a.id),                 # fails alone
        TransferRequest(amount=3, ledger_account_id=account.id, from_wallet_id=a.id, atomic_set_id=7),  # set 7 ...
        TransferRequest(amount=50, ledger_account_id=account.id, from_wallet_id=b.id, atomic_set_id=7),  # ... fails
        TransferRequest(amount=2, ledger_account_id=account.id, from_wallet_id=a.id, to_wallet_id=b.id,
                        atomic_set_id="pair"),
        TransferRequest(amount=1, ledger_account_id=account.id, from_wallet_id=b.id, atomic_set_id="pair"),
    ]
    processed, failed = points.post_batch(session, org.id, items, actor=clerk)
    assert sorted(f["index"] for f in failed) == [1, 2, 3]
    failure = {f["index"]: f for f in failed}
    assert failure[1]["status"] == 409 and "items[1].amount" in failure[1]["errors"]
    assert "items[3].amount" in failure[2]["errors"]  # the set fails with its failing item named
    assert [t.amount for t in processed] == [5, 2, 1]
    assert processed[1].set_id and processed[1].set_id == processed[2].set_id
    assert processed[0].set_id is None
    assert (balance(session, a), balance(session, b)) == (8, 6)


def test_a_batch_item_spends_points_an_earlier_item_gave_and_a_failed_set_gives_its_points_back(
        session, org, account, alice, bob, clerk):
    a, b = wallet_of(session, org, alice), wallet_of(session, org, bob)
    items = [
        TransferRequest(amount=10, ledger_account_id=account.id, to_wallet_id=a.id),                  # a: 10
        TransferRequest(amount=8, ledger_account_id=account.id, from_wallet_id=a.id, to_wallet_id=b.id,
                        atomic_set_id="s"),                                                           # a: 2, b: 8
        TransferRequest(amount=9, ledger_account_id=account.id, from_wallet_id=b.id, atomic_set_id="s"),  # fails
        TransferRequest(amount=10, ledger_account_id=account.id, from_wallet_id=a.id),                # a still 10
        TransferRequest(amount=1, ledger_account_id=account.id, from_wallet_id=a.id),                 # nothing left
        TransferRequest(amount=4, ledger_account_id=account.id, from_wallet_id=b.id,
                        capture_method="manual"),                                                     # b has 0
    ]
    processed, failed = points.post_batch(session, org.id, items, actor=clerk)
    assert sorted(f["index"] for f in failed) == [1, 2, 4, 5]
    assert [(t.type, t.amount) for t in processed] == [("mint", 10), ("burn", 10)]
    assert (balance(session, a), balance(session, b)) == (0, 0) == (entry_sum(session, a), entry_sum(session, b))
    assert ledger.totals(session, account.id) == {"minted": 10, "burned": 10, "circulating": 0, "memberBalances": 0}


def test_a_batch_holds_pending_items_and_refuses_what_is_held(session, org, account, alice, bob, clerk):
    a, b = wallet_of(session, org, alice), wallet_of(session, org, bob)
    mint(session, account, a, 10, clerk)
    items = [TransferRequest(amount=6, ledger_account_id=account.id, from_wallet_id=a.id, to_wallet_id=b.id,
                             capture_method="manual"),
             TransferRequest(amount=5, ledger_account_id=account.id, from_wallet_id=a.id)]  # only 4 available
    processed, failed = points.post_batch(session, org.id, items, actor=clerk)
    assert [f["index"] for f in failed] == [1] and [t.status for t in processed] == ["pending"]
    assert state(session, a) == (10, 6, 0) and state(session, b) == (0, 0, 6)


def test_a_batch_item_naming_a_ledger_that_is_not_its_accounts_fails_alone(session, org, account, alice, clerk):
    """The batch reads its accounts with their ledgers; a ledger an item names that is none of them is read apart:
    found (then the account is not in it) or not (another organisation's), for that item only."""
    a = wallet_of(session, org, alice)
    other = ledger.create_ledger(session, org.id, name="Other")
    theirs = ledger.create_ledger(session, make_org(session, name="Theirs").id, name="Theirs")
    items = [TransferRequest(amount=1, ledger_account_id=account.id, to_wallet_id=a.id, ledger_id=other.id),
             TransferRequest(amount=2, ledger_account_id=account.id, to_wallet_id=a.id, ledger_id=account.ledger_id),
             TransferRequest(amount=3, ledger_account_id=account.id, to_wallet_id=a.id, ledger_id=theirs.id)]
    processed, failed = points.post_batch(session, org.id, items, actor=clerk)
    assert [(f["index"], f["status"], list(f["errors"])) for f in failed] == [
        (0, 404, ["items[0].ledgerAccountId"]), (2, 404, ["items[2].ledgerId"])]
    assert [t.amount for t in processed] == [2] and balance(session, a) == 2


def test_a_batch_keeps_the_maximum_supply(session, org, clerk):
    capped = ledger.create_account(session, session.get(ledger.Ledger, org.program.ledger_id), name="Capped",
                                   max_supply=100)
    people = [ledger.member_wallet(session, capped, make_member(session, org).id) for _ in range(3)]
    items = [TransferRequest(amount=40, ledger_account_id=capped.id, to_wallet_id=w.id) for w in people]
    processed, failed = points.post_batch(session, org.id, items, actor=clerk)
    assert [f["index"] for f in failed] == [2] and "items[2].amount" in failed[0]["errors"]
    assert ledger.totals(session, capped.id)["minted"] == 80
    issuance = ledger.system_wallet(session, capped, ledger.ISSUANCE)
    assert session.scalar(select(func.count()).select_from(ledger.WalletShard)
                          .where(ledger.WalletShard.wallet_id == issuance.id)) == 0  # the limit is on its row


def test_batch_keys_replay_refuse_and_are_given_back_when_their_item_fails(session, org, account, alice, clerk):
    a = wallet_of(session, org, alice)

    def item(key, amount=5, source=None):
        return TransferRequest(amount=amount, ledger_account_id=account.id, to_wallet_id=None if source else a.id,
                               from_wallet_id=source, reason=Reason(system_unique_key=key))

    processed, failed = points.post_batch(session, org.id, [item("k1"), item("k1"), item("k1", 6),
                                                            item("k2", 50, source=a.id)], actor=clerk)
    # The second k1 is the first again; the third, another body with the same key, is refused; k2 fails alone.
    assert [f["index"] for f in failed] == [2, 3]
    assert failed[0]["errors"] == {"items[2].systemUniqueKey": [failed[0]["detail"].split(": ", 1)[1]]}
    assert len(processed) == 2 and processed[0].id == processed[1].id
    before = row_counts(session)
    again, failed = points.post_batch(session, org.id, [item("k1"), item("k2", 5, source=a.id)], actor=clerk)
    # k1 replays what the first batch did; k2 was given back with its failed item, so it runs now.
    assert failed == [] and again[0].id == processed[0].id and again[1].type == "burn"
    assert row_counts(session)["keys"] == before["keys"] + 1
    assert balance(session, a) == 0


def test_a_batch_refuses_another_body_under_the_key_of_an_earlier_failed_item(session, org, account, alice, clerk):
    a = wallet_of(session, org, alice)
    items = [TransferRequest(amount=50, ledger_account_id=account.id, from_wallet_id=a.id,
                             reason=Reason(system_unique_key="k3")),
             TransferRequest(amount=6, ledger_account_id=account.id, to_wallet_id=a.id,
                             reason=Reason(system_unique_key="k3"))]
    processed, failed = points.post_batch(session, org.id, items, actor=clerk)
    assert processed == [] and [f["index"] for f in failed] == [0, 1]
    assert "items[1].systemUniqueKey" in failed[1]["errors"]
    assert row_counts(session)["keys"] == 0  # the key was given back: nothing ran under it


# --- idempotency -------------------------------------------------------------------------------

def test_same_key_same_params_replays_the_transaction(session, org, alice, clerk):
    reason = Reason(description="purchase", system_unique_key="pos-77")
    first = points.mint_to_member(session, alice, 30, actor=clerk, reason=reason)
    before = row_counts(session)
    again = points.mint_to_member(session, alice, 30, actor=clerk, reason=Reason(description="purchase",
                                                                                  system_unique_key="pos-77"))
    assert not first.replayed and again.replayed
    assert [t.id for t in again.transactions] == [t.id for t in first.transactions]
    assert row_counts(session) == before
    assert balance(session, wallet_of(session, org, alice)) == 30


@pytest.mark.parametrize("change", [{"amount": 31}, {"description": "other"}, {"kind": "burn"}, {"member": "bob"}])
def test_same_key_other_params_is_refused(session, org, alice, bob, clerk, change):
    points.mint_to_member(session, alice, 30, actor=clerk,
                          reason=Reason(description="purchase", system_unique_key="pos-78"))
    before = row_counts(session)
    move = points.burn_from_member if change.get("kind") == "burn" else points.mint_to_member
    with fails_cleanly(session, IdempotencyKeyReused) as error:
        move(session, bob if change.get("member") else alice, change.get("amount", 30), actor=clerk,
             reason=Reason(description=change.get("description", "purchase"), system_unique_key="pos-78"))
    assert error.value.field == "systemUniqueKey" and error.value.status == 409
    assert row_counts(session) == before


def test_a_failed_operation_leaves_its_key_unused(session, org, alice, clerk):
    with fails_cleanly(session, InsufficientBalance):
        points.burn_from_member(session, alice, 5, actor=clerk, reason=Reason(system_unique_key="k-fail"))
    points.mint_to_member(session, alice, 5, actor=clerk, reason=Reason(system_unique_key="k-fail"))
    assert balance(session, wallet_of(session, org, alice)) == 5


def test_keys_are_per_organisation(session, org, other_org, alice, clerk):
    stranger = make_member(session, other_org)
    points.mint_to_member(session, alice, 5, actor=clerk, reason=Reason(system_unique_key="shared"))
    movement = points.mint_to_member(session, stranger, 9, actor=other_org.actor,
                                     reason=Reason(system_unique_key="shared"))
    assert not movement.replayed
    assert balance(session, wallet_of(session, other_org, stranger)) == 9


def test_post_transaction_is_idempotent(session, org, account, alice, clerk):
    wallet = wallet_of(session, org, alice)
    request = dict(amount=12, ledger_account_id=account.id, to_wallet_id=wallet.id)
    first = points.post_transaction(session, org.id, TransferRequest(**request, reason=Reason(system_unique_key="t1")),
                                    actor=clerk)
    again = points.post_transaction(session, org.id, TransferRequest(**request, reason=Reason(system_unique_key="t1")),
                                    actor=clerk)
    assert again.replayed and again.transactions[0].id == first.transactions[0].id
    with fails_cleanly(session, IdempotencyKeyReused):
        points.post_transaction(session, org.id, TransferRequest(**{**request, "amount": 13},
                                                                 reason=Reason(system_unique_key="t1")), actor=clerk)
    assert balance(session, wallet) == 12


# --- what every movement records ------------------------------------------------------------------

def test_every_movement_records_actor_reason_and_dates(session, org, account, alice, bob, clerk):
    a, b = wallet_of(session, org, alice), wallet_of(session, org, bob)
    when = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)

    def reason(n):
        return Reason(description=f"why {n}", tags=["pos", f"t{n}"], external_id=f"ext-{n}",
                      external_event_date=when + dt.timedelta(minutes=n), system_unique_key=f"key-{n}")

    made = [mint(session, account, a, 50, clerk, reason=reason(1)),
            ledger.burn(session, account, a, 5, actor=clerk, reason=reason(2)),
            ledger.transfer(session, account, a, b, 5, actor=clerk, reason=reason(3))]
    hold = ledger.burn(session, account, a, 5, actor=clerk, reason=reason(4), pending=True)
    made += [hold, ledger.capture(session, hold, actor=clerk, reason=reason(5)),
             ledger.revert(session, made[1], actor=clerk, reason=reason(6))]
    hold2 = ledger.burn(session, account, a, 1, actor=clerk, reason=reason(7), pending=True)
    made += [hold2, ledger.void(session, hold2, actor=clerk, reason=reason(8))]
    session.expire_all()
    for n, tx in enumerate(made, start=1):
        stored = session.get(LedgerTransaction, tx.id)
        assert (stored.actor_kind, stored.actor_id, stored.actor_label) == ("staff", 42, "clerk@example.com")
        assert stored.description == f"why {n}"
        assert stored.tags == ["pos", f"t{n}"]
        assert stored.external_id == f"ext-{n}"
        assert stored.external_event_date == when + dt.timedelta(minutes=n)
        assert stored.system_unique_key == f"key-{n}"
        assert stored.created_at.tzinfo is not None
        assert stored.organization_id == org.id and stored.ledger_id == account.ledger_id


def test_every_mint_and_burn_is_announced_once_by_the_ledger_and_nothing_else(session, org, account, alice, bob,
                                                                             clerk):
    from portal.domain.outbox import OutboxEvent

    def announced():
        return [(e.member_id, e.payload["type"], e.payload["amount"], e.payload["ledgerTransactionId"])
                for e in session.scalars(select(OutboxEvent).where(
                    OutboxEvent.organization_id == org.id, OutboxEvent.event_type == "ledger-transaction-created")
                    .order_by(OutboxEvent.id))]

    before = announced()
    minted = ledger.mint(session, account, wallet_of(session, org, alice), 50, actor=clerk)
    held = ledger.burn(session, account, wallet_of(session, org, alice), 10, actor=clerk, pending=True)
    burned = ledger.burn(session, account, wallet_of(session, org, alice), 5, actor=clerk)
    session.flush()
    assert announced()[len(before):] == [(alice.id, "mint", 50, minted.id), (alice.id, "burn", 10, held.id),
                                         (alice.id, "burn", 5, burned.id)]
    # Transfers, resolutions and reverts move existing points: no announcement.
    ledger.transfer(session, account, wallet_of(session, org, alice), wallet_of(session, org, bob), 7, actor=clerk)
    ledger.capture(session, held, actor=clerk)
    ledger.revert(session, burned, actor=clerk)
    session.flush()
    assert len(announced()) == len(before) + 3


def test_the_ledgers_memos_end_with_the_sessions_transaction_close_included():
    # A session closed without a rollback (an error path, a worker between batches) keeps its `info`: the
    # memos must not, or a transaction id SQLite reuses would be read as "posted in this transaction".
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from portal.domain.base import session_memo

    with Session(create_engine("sqlite://")) as own:
        own.execute(text("SELECT 1"))
        session_memo(own, "ledger.new_transactions")[7] = True
        with own.begin_nested():  # a savepoint released keeps them
            own.execute(text("SELECT 1"))
        assert session_memo(own, "ledger.new_transactions") == {7: True}
        own.close()
        assert session_memo(own, "ledger.new_transactions") == {}


def test_a_movement_rolled_back_with_its_savepoint_is_forgotten_by_the_session(session, org, account, alice, clerk):
    # `post` writes its transaction with a Core INSERT, not an ORM flush: the object must still leave the session
    # when its savepoint rolls back, as a flushed one would, or a later row given the same id (SQLite reuses it)
    # would meet a stale object in the identity map.
    wallet = wallet_of(session, org, alice)
    with pytest.raises(RuntimeError), session.begin_nested():
        undone = mint(session, account, wallet, 70, clerk)
        raise RuntimeError("the caller's step failed")
    assert undone not in session and session.get(LedgerTransaction, undone.id) is None
    tx = mint(session, account, wallet, 30, clerk)  # may take the same id
    assert session.get(LedgerTransaction, tx.id) is tx and (tx.amount, tx.status) == (30, "posted")
    assert balance(session, wallet) == 30 == entry_sum(session, wallet)


def test_a_wallet_opened_in_a_savepoint_rolled_back_is_forgotten_by_the_session(session, org, account, alice, bob):
    # The member's first wallet is written by an INSERT ... ON CONFLICT statement (ledger.member_wallet), alone
    # or for many members at once (member_wallets_in): rolled back, it leaves the session as a flushed row would.
    with pytest.raises(RuntimeError), session.begin_nested():
        alone = ledger.member_wallet(session, account, alice.id)
        many = ledger.member_wallets_in(session, account, [bob.id])[bob.id]
        raise RuntimeError("the caller's step failed")
    assert alone not in session and many not in session
    assert session.scalar(select(func.count()).select_from(Wallet).where(
        Wallet.member_id.in_([alice.id, bob.id]), Wallet.ledger_account_id == account.id)) == 0
    again = ledger.member_wallet(session, account, alice.id)  # may take the same id
    assert session.get(Wallet, again.id) is again and again.member_id == alice.id
