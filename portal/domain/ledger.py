"""The points ledger: the only way points move.

Invariants (checked by tests/domain/test_ledger_properties.py):
- Points move only through `post` (mint, burn and transfer are its three
  kinds) and the resolutions capture, void and revert; other modules call
  these, never the internals below.
- Every mint and burn (posted or pending) emits one `ledger-transaction-created`
  outbox event, here in `post`, so no caller emits it.
- Entries are append-only. Every posted transaction writes exactly two entries,
  -amount on the source wallet and +amount on the destination, so all entries
  of an account sum to zero.
- A wallet's `balance` always equals the sum of its entries, and its `held`
  equals the sum of its unresolved pending debits; both change in the same
  database transaction as the entries, by conditional UPDATE statements.
- A member wallet never goes negative: `balance - held >= 0` (also a CHECK).
- Each account has an issuance wallet (debited by mints, balance = -minted) and
  a burned wallet (credited by burns, balance = burned): minted - burned equals
  the sum of member wallet balances.
- A pending transaction is captured or voided at most once, and a transaction
  is reverted at most once (unique `pending_id` and `reverts_id`).
- Wallet rows are updated in ascending id order so that opposing transfers
  cannot deadlock on PostgreSQL.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import hooks, outbox
from .actors import Actor
from .base import Base, add_unique, get_owned, unique_where, utcnow
from .errors import (AccountNotActive, AlreadyResolved, InsufficientBalance, LedgerAccountNotActive, MaxSupplyExceeded,
                     NotPending, NotRevertible, ValidationFailed)

MAX_AMOUNT = 18_446_744_073_709  # the seed's documented maximum

MEMBER, ISSUANCE, BURNED = "member", "issuance", "burned"
MINT, BURN, TRANSFER, CAPTURE, VOID, REVERT = "mint", "burn", "transfer", "capture", "void", "revert"
POSTED, PENDING = "posted", "pending"


class Ledger(Base):
    __tablename__ = "ledgers"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    is_currency: Mapped[bool] = mapped_column(Boolean, default=False)
    decimals: Mapped[int] = mapped_column(default=0)
    format_string: Mapped[str] = mapped_column(String(100), default="")
    max_supply: Mapped[int | None] = mapped_column(default=None)
    expires_in_months: Mapped[int | None] = mapped_column(default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Wallet(Base):
    __tablename__ = "wallets"
    __table_args__ = (
        UniqueConstraint("ledger_account_id", "member_id"),
        unique_where("uq_wallets_system_kind", "ledger_account_id", "kind", where="kind <> 'member'"),
        # SQLite cannot use the partial index above for `kind = 'issuance'`; without this plain one every mint
        # and burn walked all the account's member wallets (bench/RESULTS.md, 40 ms at 100k members).
        Index("ix_wallets_account_kind", "ledger_account_id", "kind"),
        CheckConstraint("kind <> 'member' OR balance - held >= 0", name="member_not_negative"),
        CheckConstraint("held >= 0", name="held_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True, default=None)
    kind: Mapped[str] = mapped_column(String(16), default=MEMBER)
    balance: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)
    pending_in: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def available(self) -> int:
        return self.balance - self.held


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"
    __table_args__ = (
        Index("ix_ledger_transactions_org_key", "organization_id", "system_unique_key"),
        Index("ix_ledger_transactions_account_created", "ledger_account_id", "created_at"),
        Index("ix_ledger_transactions_account_event_date", "ledger_account_id", "external_event_date"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"))
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=POSTED)
    amount: Mapped[int]
    from_wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), index=True)
    to_wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), index=True)
    # A capture or void names the pending transaction it resolves; a revert names what it reverts.
    pending_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"), unique=True, default=None)
    reverts_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"), unique=True, default=None)
    set_id: Mapped[str | None] = mapped_column(String(36), index=True, default=None)
    system_unique_key: Mapped[str | None] = mapped_column(String(255), default=None)
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    external_event_date: Mapped[dt.datetime | None] = mapped_column(default=None)
    description: Mapped[str] = mapped_column(String(500), default="")
    tags: Mapped[list[str]] = mapped_column(default=list)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(default=None)
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), index=True)
    amount: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass
class Reason:
    """Why points move: shown in histories and kept for audits."""

    description: str = ""
    tags: list[str] = field(default_factory=list)
    external_id: str | None = None
    external_event_date: dt.datetime | None = None
    system_unique_key: str | None = None


# --- set-up -----------------------------------------------------------------

def create_ledger(session: Session, organization_id: int, *, name: str, description: str = "") -> Ledger:
    book = Ledger(organization_id=organization_id, name=name, description=description)
    session.add(book)
    session.flush()
    return book


def create_account(session: Session, book: Ledger, *, name: str, is_currency: bool = False, decimals: int = 0,
                   format_string: str = "", max_supply: int | None = None, expires_in_months: int | None = None,
                   active: bool = True, is_default: bool = False) -> LedgerAccount:
    """Create an account with its issuance and burned system wallets."""
    if is_default:
        session.execute(update(LedgerAccount).where(LedgerAccount.ledger_id == book.id).values(is_default=False))
    account = LedgerAccount(organization_id=book.organization_id, ledger_id=book.id, name=name,
                            is_currency=is_currency, decimals=decimals, format_string=format_string,
                            max_supply=max_supply, expires_in_months=expires_in_months, active=active,
                            is_default=is_default)
    session.add(account)
    session.flush()
    for kind in (ISSUANCE, BURNED):
        session.add(Wallet(organization_id=book.organization_id, ledger_account_id=account.id, kind=kind))
    session.flush()
    return account


def get_ledger(session: Session, organization_id: int, ledger_id: int) -> Ledger:
    return get_owned(session, Ledger, ledger_id, organization_id, what="Ledger", field="ledgerId")


def get_account(session: Session, organization_id: int, account_id: int, ledger_id: int | None = None) -> LedgerAccount:
    return get_owned(session, LedgerAccount, account_id, organization_id, what="Ledger account",
                     field="ledgerAccountId", ledger_id=ledger_id)


def get_wallet(session: Session, organization_id: int, wallet_id: int, account_id: int | None = None, *,
               field: str = "walletId") -> Wallet:
    """A member wallet (system wallets are not addressable) of the organisation, and of the account when given."""
    return get_owned(session, Wallet, wallet_id, organization_id, what="Wallet", field=field, kind=MEMBER,
                     ledger_account_id=account_id)


def system_wallet(session: Session, account: LedgerAccount, kind: str) -> Wallet:
    return session.scalars(
        select(Wallet).where(Wallet.ledger_account_id == account.id, Wallet.kind == kind)).one()


def member_wallet(session: Session, account: LedgerAccount, member_id: int) -> Wallet:
    """The member's wallet in this account, created on first use."""
    stmt = select(Wallet).where(Wallet.ledger_account_id == account.id, Wallet.member_id == member_id)
    wallet = session.scalars(stmt).first()
    if wallet is not None:
        return wallet
    try:
        with session.begin_nested():
            wallet = Wallet(organization_id=account.organization_id, ledger_account_id=account.id,
                            member_id=member_id, kind=MEMBER)
            session.add(wallet)
    except IntegrityError:  # created by a concurrent request
        wallet = session.scalars(stmt).one()
    return wallet


def member_wallets(session: Session, member_id: int) -> list[Wallet]:
    return list(session.scalars(select(Wallet).where(Wallet.member_id == member_id).order_by(Wallet.id)))


# --- movements ---------------------------------------------------------------

# Which wallets each kind of movement takes points from and gives them to.
WALLET_KINDS = {MINT: (ISSUANCE, MEMBER), BURN: (MEMBER, BURNED), TRANSFER: (MEMBER, MEMBER)}


def mint(session: Session, account: LedgerAccount, wallet: Wallet, amount: int, *, actor: Actor,
         reason: Reason | None = None, pending: bool = False, set_id: str | None = None) -> LedgerTransaction:
    """Create points into a member wallet. Raises MaxSupplyExceeded, AccountNotActive."""
    return post(session, kind=MINT, account=account, source=system_wallet(session, account, ISSUANCE),
                target=wallet, amount=amount, actor=actor, reason=reason, pending=pending, set_id=set_id)


def burn(session: Session, account: LedgerAccount, wallet: Wallet, amount: int, *, actor: Actor,
         reason: Reason | None = None, pending: bool = False, set_id: str | None = None,
         whatever_member_status: bool = False) -> LedgerTransaction:
    """Destroy points from a member wallet. Raises InsufficientBalance, AccountNotActive.

    `whatever_member_status` is for the programme's own corrections (expiry, a returned order):
    they apply to a locked or deactivated member too.
    """
    return post(session, kind=BURN, account=account, source=wallet, target=system_wallet(session, account, BURNED),
                amount=amount, actor=actor, reason=reason, pending=pending, set_id=set_id,
                whatever_member_status=whatever_member_status)


def transfer(session: Session, account: LedgerAccount, source: Wallet, target: Wallet, amount: int, *,
             actor: Actor, reason: Reason | None = None, pending: bool = False,
             set_id: str | None = None) -> LedgerTransaction:
    """Move points between two member wallets of one account. Raises InsufficientBalance."""
    if source.id == target.id:
        raise ValidationFailed("Source and destination wallet must differ", field="toWalletId")
    return post(session, kind=TRANSFER, account=account, source=source, target=target, amount=amount, actor=actor,
                reason=reason, pending=pending, set_id=set_id)


def post(session: Session, *, kind: str, account: LedgerAccount, source: Wallet, target: Wallet, amount: int,
         actor: Actor, reason: Reason | None = None, pending: bool = False, set_id: str | None = None,
         whatever_member_status: bool = False) -> LedgerTransaction:
    """Record one movement of `kind` (mint, burn, transfer) and post it, or hold it when `pending`.

    Every way points move ends here. Checks, in this order: the members whose wallets take
    part are active (AccountNotActive, unless `whatever_member_status`), the amount
    (ValidationFailed), the account is active (LedgerAccountNotActive), both wallets are the
    account's (ValidationFailed); then the debit is conditional (InsufficientBalance,
    MaxSupplyExceeded). A `kind` that does not fit the wallets is a programming error (ValueError).
    """
    if WALLET_KINDS.get(kind) != (source.kind, target.kind):
        raise ValueError(f"a {kind} cannot move points from a {source.kind} to a {target.kind} wallet")
    if not whatever_member_status:
        for wallet in (source, target):
            _require_member_can_move(session, wallet)
    check_amount(amount)
    if not account.active:
        raise LedgerAccountNotActive("The ledger account is not active", field="ledgerAccountId")
    for wallet in (source, target):
        if wallet.ledger_account_id != account.id:
            raise ValidationFailed("Wallet does not belong to this ledger account", field="walletId")
    reason = reason or Reason()
    member_id = (source if kind == BURN else target).member_id  # read now: posting expires the wallets
    tx = LedgerTransaction(
        organization_id=account.organization_id, ledger_id=account.ledger_id, ledger_account_id=account.id,
        type=kind, status=PENDING if pending else POSTED, amount=amount, from_wallet_id=source.id,
        to_wallet_id=target.id, set_id=set_id, system_unique_key=reason.system_unique_key,
        external_id=reason.external_id, external_event_date=reason.external_event_date,
        description=reason.description, tags=list(reason.tags or []), actor_kind=actor.kind, actor_id=actor.id,
        actor_label=actor.label)
    session.add(tx)
    if pending:
        _hold(session, source, target, amount, account)
        session.flush()
    else:
        session.flush()
        _write_entries(session, source, target, amount, tx, account=account)
    if kind in (MINT, BURN):  # the member's feed and webhooks hear of points created or destroyed
        outbox.emit(session, account.organization_id, "ledger-transaction-created", member_id=member_id,
                    ledgerTransactionId=tx.id, type=kind, amount=amount)
    return tx


def check_amount(amount: Any, field_name: str = "amount") -> int:
    """A whole number of points from 1 to MAX_AMOUNT, else ValidationFailed naming `field_name`."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValidationFailed("Amount must be a whole number", field=field_name)
    if amount <= 0:
        raise ValidationFailed("Amount must be positive", field=field_name)
    if amount > MAX_AMOUNT:
        raise ValidationFailed(f"Amount must not exceed {MAX_AMOUNT}", field=field_name)
    return amount


def capture(session: Session, pending_tx: LedgerTransaction, *, actor: Actor, amount: int | None = None,
            reason: Reason | None = None) -> LedgerTransaction:
    """Post a pending transaction, fully or partly; the rest of the hold is released."""
    _require_unresolved_pending(session, pending_tx)
    captured = pending_tx.amount if amount is None else amount
    if captured <= 0 or captured > pending_tx.amount:
        raise ValidationFailed("captureAmount must be between 1 and the pending amount", field="captureAmount")
    source, target = _wallets_of(session, pending_tx)
    # The resolution row first: its unique pending_id makes a concurrent second capture or void wait
    # and then fail as AlreadyResolved, before it could release the hold a second time.
    tx = _record(session, pending_tx, CAPTURE, captured, actor, reason or Reason(description="capture"),
                 pending_id=pending_tx.id)
    _release(session, source, target, pending_tx.amount)
    _write_entries(session, source, target, captured, tx, account=session.get(LedgerAccount, pending_tx.ledger_account_id))
    return tx


def void(session: Session, pending_tx: LedgerTransaction, *, actor: Actor,
         reason: Reason | None = None) -> LedgerTransaction:
    """Release a pending transaction without posting it."""
    _require_unresolved_pending(session, pending_tx)
    source, target = _wallets_of(session, pending_tx)
    tx = _record(session, pending_tx, VOID, pending_tx.amount, actor, reason or Reason(description="void"),
                 pending_id=pending_tx.id)  # before the release, as in capture
    _release(session, source, target, pending_tx.amount)
    return tx


def revert(session: Session, tx: LedgerTransaction, *, actor: Actor,
           reason: Reason | None = None) -> LedgerTransaction:
    """Undo a posted movement with a reversing one (a pending one is voided).

    Raises AlreadyResolved when it was reverted before, InsufficientBalance when
    the points were spent since.
    """
    if tx.type in (REVERT, VOID):
        raise NotRevertible("A revert or void cannot itself be reverted", field="ledgerTransactionId")
    if tx.status == PENDING:
        return void(session, tx, actor=actor, reason=reason)
    if session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.reverts_id == tx.id)):
        raise AlreadyResolved("Transaction was already reverted", field="ledgerTransactionId")
    source, target = _wallets_of(session, tx)
    reversed_tx = _record(session, tx, REVERT, tx.amount, actor,
                          reason or Reason(description=f"revert of transaction {tx.id}"),
                          reverts_id=tx.id, swap=True)
    _write_entries(session, target, source, tx.amount, reversed_tx,
          account=session.get(LedgerAccount, tx.ledger_account_id))
    return reversed_tx


def new_set_id() -> str:
    return str(uuid.uuid4())


# --- reading -----------------------------------------------------------------

def get_transaction(session: Session, organization_id: int, tx_id: int,
                    account_id: int | None = None) -> LedgerTransaction:
    return get_owned(session, LedgerTransaction, tx_id, organization_id, what="Ledger transaction",
                     field="ledgerTransactionId", ledger_account_id=account_id)


def transaction_state(session: Session, tx: LedgerTransaction) -> str:
    """posted | pending | captured | voided | reverted, derived from later transactions."""
    return transaction_states(session, [tx])[tx.id]


def transaction_states(session: Session, txs: list[LedgerTransaction]) -> dict[int, str]:
    """`transaction_state` of each transaction by id, in one query per kind (pending, posted) present."""
    pending = [tx.id for tx in txs if tx.status == PENDING]
    posted = [tx.id for tx in txs if tx.status != PENDING]
    states: dict[int, str] = {}
    if pending:
        resolutions = dict(session.execute(select(LedgerTransaction.pending_id, LedgerTransaction.type)
                                           .where(LedgerTransaction.pending_id.in_(pending))).all())
        states.update({i: {CAPTURE: "captured", VOID: "voided"}.get(resolutions.get(i), PENDING) for i in pending})
    if posted:
        reverted = set(session.scalars(select(LedgerTransaction.reverts_id)
                                       .where(LedgerTransaction.reverts_id.in_(posted))))
        states.update({i: "reverted" if i in reverted else POSTED for i in posted})
    return states


def wallet_history(session: Session, wallet_id: int, *, limit: int = 50, offset: int = 0):
    """Posted entries of a wallet, newest first, with their transactions."""
    stmt = (select(LedgerEntry, LedgerTransaction)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerEntry.wallet_id == wallet_id)
            .order_by(LedgerEntry.id.desc()).limit(limit).offset(offset))
    return list(session.execute(stmt))


def totals(session: Session, account_id: int) -> dict[str, int]:
    """minted, burned, circulating and the sum of member wallets of one account."""
    rows = dict(session.execute(
        select(Wallet.kind, func.coalesce(func.sum(Wallet.balance), 0))
        .where(Wallet.ledger_account_id == account_id).group_by(Wallet.kind)).all())
    minted = -int(rows.get(ISSUANCE, 0))
    burned = int(rows.get(BURNED, 0))
    return {"minted": minted, "burned": burned, "circulating": minted - burned,
            "memberBalances": int(rows.get(MEMBER, 0))}


# --- internals ---------------------------------------------------------------

def _require_member_can_move(session: Session, wallet: Wallet) -> None:
    from .members import Member

    if wallet.kind != MEMBER or wallet.member_id is None:
        return
    member = session.get(Member, wallet.member_id)
    if member is None or member.account_status != "ACTIVE" or not member.active:
        raise AccountNotActive("The member's account is not active", field="memberId")


def _record(session, original: LedgerTransaction, kind: str, amount: int, actor: Actor, reason: Reason, *,
            pending_id: int | None = None, reverts_id: int | None = None, swap: bool = False) -> LedgerTransaction:
    source, target = original.from_wallet_id, original.to_wallet_id
    if swap:
        source, target = target, source
    tx = LedgerTransaction(
        organization_id=original.organization_id, ledger_id=original.ledger_id,
        ledger_account_id=original.ledger_account_id, type=kind, status=POSTED, amount=amount,
        from_wallet_id=source, to_wallet_id=target, pending_id=pending_id, reverts_id=reverts_id,
        system_unique_key=reason.system_unique_key, external_id=reason.external_id,
        external_event_date=reason.external_event_date, description=reason.description,
        tags=list(reason.tags or []), actor_kind=actor.kind, actor_id=actor.id, actor_label=actor.label)
    # The unique pending_id / reverts_id makes a second resolution fail here, even when concurrent.
    add_unique(session, tx, AlreadyResolved("Transaction was already captured, voided or reverted",
                                            field="ledgerTransactionId"))
    return tx


def _require_unresolved_pending(session: Session, tx: LedgerTransaction) -> None:
    if tx.status != PENDING:
        raise NotPending("Only pending transactions can be captured or voided", field="ledgerTransactionId")
    if session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.pending_id == tx.id)):
        raise AlreadyResolved("Transaction was already captured or voided", field="ledgerTransactionId")


def _wallets_of(session: Session, tx: LedgerTransaction) -> tuple[Wallet, Wallet]:
    return session.get(Wallet, tx.from_wallet_id), session.get(Wallet, tx.to_wallet_id)


def _debit_condition(wallet: Wallet, amount: int, account: LedgerAccount):
    if wallet.kind == ISSUANCE:
        if account.max_supply is None:
            return None
        return Wallet.balance - amount >= -account.max_supply
    return Wallet.balance - Wallet.held >= amount


def _refuse_debit(wallet: Wallet):
    if wallet.kind == ISSUANCE:
        return MaxSupplyExceeded("Minting this amount would exceed the account's maximum supply", field="amount")
    return InsufficientBalance("Not enough points in the wallet", field="amount")


def _write_entries(session: Session, source: Wallet, target: Wallet, amount: int, tx: LedgerTransaction, *,
          account: LedgerAccount) -> None:
    """Move `amount` from source to target: two entries and two balance updates, in id order."""
    for wallet in sorted((source, target), key=lambda w: w.id):
        if wallet is source:
            stmt = update(Wallet).where(Wallet.id == source.id).values(balance=Wallet.balance - amount)
            condition = _debit_condition(source, amount, account)
            if condition is not None:
                stmt = stmt.where(condition)
            if session.execute(stmt.execution_options(synchronize_session=False)).rowcount != 1:
                raise _refuse_debit(source)
        else:
            session.execute(update(Wallet).where(Wallet.id == target.id)
                            .values(balance=Wallet.balance + amount)
                            .execution_options(synchronize_session=False))
    session.add_all([LedgerEntry(transaction_id=tx.id, wallet_id=source.id, amount=-amount),
                     LedgerEntry(transaction_id=tx.id, wallet_id=target.id, amount=amount)])
    session.flush()
    session.expire(source)
    session.expire(target)
    hooks.send(hooks.points_moved, session, tx, source, target, amount, account)
    hooks.send(hooks.after_posting, session, tx, target)


def _hold(session: Session, source: Wallet, target: Wallet, amount: int, account: LedgerAccount) -> None:
    """Reserve `amount` on the source (and show it as incoming on the target) until capture or void."""
    for wallet in sorted((source, target), key=lambda w: w.id):
        if wallet is source:
            if source.kind == ISSUANCE:
                # Pending mints reserve supply by posting nothing; supply is checked again at capture.
                continue
            stmt = (update(Wallet).where(Wallet.id == source.id, Wallet.balance - Wallet.held >= amount)
                    .values(held=Wallet.held + amount).execution_options(synchronize_session=False))
            if session.execute(stmt).rowcount != 1:
                raise _refuse_debit(source)
        elif target.kind == MEMBER:
            session.execute(update(Wallet).where(Wallet.id == target.id)
                            .values(pending_in=Wallet.pending_in + amount)
                            .execution_options(synchronize_session=False))
    session.expire(source)
    session.expire(target)


def _release(session: Session, source: Wallet, target: Wallet, amount: int) -> None:
    for wallet in sorted((source, target), key=lambda w: w.id):
        if wallet is source and source.kind != ISSUANCE:
            session.execute(update(Wallet).where(Wallet.id == source.id).values(held=Wallet.held - amount)
                            .execution_options(synchronize_session=False))
        elif wallet is target and target.kind == MEMBER:
            session.execute(update(Wallet).where(Wallet.id == target.id)
                            .values(pending_in=Wallet.pending_in - amount)
                            .execution_options(synchronize_session=False))
    session.expire(source)
    session.expire(target)
