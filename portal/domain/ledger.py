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
- A member wallet's `balance` always equals the sum of its entries, and its `held`
  equals the sum of its unresolved pending debits; both change in the same
  database transaction as the entries, by conditional UPDATE statements.
- A member wallet never goes negative: `balance - held >= 0` (also a CHECK).
- Each account has an issuance wallet (debited by mints, balance = -minted) and
  a burned wallet (credited by burns, balance = burned): minted - burned equals
  the sum of member wallet balances.
- A system wallet's balance is its row's `balance` plus its `WalletShard` rows
  (`balances_of`, `totals`), and that sum equals the sum of its entries. Mints and
  burns change the shard picked by the member wallet's id, so concurrent
  movements of different members do not queue on one row. An account with a
  maximum supply keeps its issuance on the wallet row itself: the limit is a
  conditional update of that one row, so its mints do queue, and must.
- A pending transaction is captured or voided at most once, and a transaction
  is reverted at most once (unique `pending_id` and `reverts_id`).
- Member wallet rows are updated in ascending id order, then the system wallet
  row or shard, so that opposing transfers cannot deadlock on PostgreSQL.
- A batch (`post_all`) keeps the same rules with locks instead of conditions:
  its wallets are read under FOR UPDATE in id order (`Funds`), every debit is
  checked against them in memory, then all rows are written at once.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, bindparam, cast, exists,
                        func, insert, inspect, or_, select, union_all, update)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql import operators

from . import hooks, outbox
from .actors import Actor
from .base import (Base, IndexedOwnedRow, OwnedRow, add_unique, adopt_inserted, fits_id, get_owned, in_utc, keep,
                   session_memo, unique_where, upsert_insert, utcnow)
from .errors import (AccountNotActive, AlreadyResolved, InsufficientBalance, LedgerAccountNotActive, MaxSupplyExceeded,
                     NotFound, NotPending, NotRevertible, ValidationFailed)
from .pagination import Page, ReachedCaps, page_within, page_within_statement

MAX_AMOUNT = 18_446_744_073_709  # the seed's documented maximum

MEMBER, ISSUANCE, BURNED = "member", "issuance", "burned"
MINT, BURN, TRANSFER, CAPTURE, VOID, REVERT = "mint", "burn", "transfer", "capture", "void", "revert"
POSTED, PENDING = "posted", "pending"
SHARDS = 32  # shard rows per system wallet: 16 concurrent mints to random members rarely meet on one


class Ledger(IndexedOwnedRow, Base):
    __tablename__ = "ledgers"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LedgerAccount(IndexedOwnedRow, Base):
    __tablename__ = "ledger_accounts"

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


def available_points(balance: int, held: int) -> int:
    """What a member wallet can spend: its balance less the points its holds keep (`Wallet.available`)."""
    return balance - held


class Wallet(IndexedOwnedRow, Base):
    """A member's points in one ledger account, or the account's issuance or burned wallet (`kind`): `balance` is the
    sum of its entries, `held` and `pending_in` of its unresolved pending debits and credits."""

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

    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True, default=None)
    kind: Mapped[str] = mapped_column(String(16), default=MEMBER)
    balance: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)
    pending_in: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def available(self) -> int:
        return available_points(self.balance, self.held)


class WalletShard(Base):
    """A part of a system wallet's balance (see the module docstring); created on first use."""

    __tablename__ = "wallet_shards"

    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    balance: Mapped[int] = mapped_column(default=0)


class LedgerTransaction(OwnedRow, Base):
    __tablename__ = "ledger_transactions"
    __table_args__ = (
        Index("ix_ledger_transactions_org_key", "organization_id", "system_unique_key"),
        Index("ix_ledger_transactions_account_created", "ledger_account_id", "created_at"),
        Index("ix_ledger_transactions_account_event_date", "ledger_account_id", "external_event_date"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )

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
    """The account's issuance or burned wallet; looked up once per session (it never changes)."""
    known = session_memo(session, "ledger.system_wallets")  # the objects: the identity map holds them weakly
    wallet = known.get((account.id, kind))
    if wallet is None:
        wallet = known[account.id, kind] = session.scalars(
            select(Wallet).where(Wallet.ledger_account_id == account.id, Wallet.kind == kind)).one()
    return wallet


_MEMBER_AND_SYSTEM_WALLETS = select(Wallet).where(  # built once: a mint's wallet lookup
    Wallet.ledger_account_id == bindparam("account_id"),
    or_(Wallet.member_id == bindparam("member_id"), Wallet.kind.in_((ISSUANCE, BURNED))))


def member_wallet(session: Session, account: LedgerAccount, member_id: int) -> Wallet:
    """The member's wallet in this account, created on first use.

    The same statement brings the account's system wallets along, so the mint or burn that follows
    needs no lookup of its own."""
    mine = session_memo(session, "ledger.member_wallets")
    if (account.id, member_id) in mine:
        return mine[account.id, member_id]
    known = session_memo(session, "ledger.system_wallets")
    wallet = None
    for row in session.scalars(_MEMBER_AND_SYSTEM_WALLETS, {"account_id": account.id, "member_id": member_id}):
        if row.kind == MEMBER:
            wallet = row
        else:
            known[account.id, row.kind] = row
    mine[account.id, member_id] = wallet or _new_member_wallet(session, account, member_id)
    return mine[account.id, member_id]


@cache
def _insert_member_wallet(dialect: str):
    """A member's new wallet, nothing inserted when it exists: built once per dialect (cached compiled)."""
    return ((postgresql if dialect == "postgresql" else sqlite).insert(Wallet).values(
        kind=MEMBER, balance=0, held=0, pending_in=0).on_conflict_do_nothing().returning(Wallet))


def _new_member_wallet(session: Session, account: LedgerAccount, member_id: int) -> Wallet:
    # A concurrent request may create it first: then nothing is inserted here and its row is read.
    wallet = session.scalars(_insert_member_wallet(session.get_bind().dialect.name), {
        "organization_id": account.organization_id, "ledger_account_id": account.id, "member_id": member_id,
        "created_at": utcnow()}).first()
    if wallet is None:
        return session.scalars(select(Wallet).where(Wallet.ledger_account_id == account.id,
                                                    Wallet.member_id == member_id)).one()
    adopt_inserted(session, wallet)  # a rolled-back savepoint takes it out of the session again
    return wallet


@cache
def _member_and_system_wallets_in(accounts: int):
    """`_MEMBER_AND_SYSTEM_WALLETS` for `accounts` accounts (bound as account_0, account_1...) in one statement,
    built once per number: a UNION ALL of the one-account form, whose OR each database answers from the two
    indexes (an IN of accounts instead makes SQLite scan every wallet of them)."""
    return select(Wallet).from_statement(union_all(*(select(Wallet).where(
        Wallet.ledger_account_id == bindparam(f"account_{n}"),
        or_(Wallet.member_id == bindparam("member_id"), Wallet.kind.in_((ISSUANCE, BURNED))))
        for n in range(accounts))))


def member_wallet_in_each(session: Session, accounts: list[LedgerAccount], member_id: int) -> dict[int, Wallet]:
    """`member_wallet` in each of these accounts, {account id: wallet}: the wallets not known yet read in one
    statement (with the accounts' system wallets), a missing one created as `member_wallet` creates it."""
    mine = session_memo(session, "ledger.member_wallets")
    wanted = [account for account in accounts if (account.id, member_id) not in mine]
    if len(wanted) > 1:
        known = session_memo(session, "ledger.system_wallets")
        found = {}
        for row in session.scalars(_member_and_system_wallets_in(len(wanted)), {
                "member_id": member_id, **{f"account_{n}": account.id for n, account in enumerate(wanted)}}):
            if row.kind == MEMBER:
                found[row.ledger_account_id] = row
            else:
                known[row.ledger_account_id, row.kind] = row
        for account in wanted:
            mine[account.id, member_id] = found.get(account.id) or _new_member_wallet(session, account, member_id)
    return {account.id: member_wallet(session, account, member_id) for account in accounts}


def note_wallets(session: Session, account: LedgerAccount, member_id: int, wallets: list[Wallet]) -> None:
    """Remember the account's wallets read with it (`points.resolve_account`): the system ones, and the member's
    (when it has none yet, `member_wallet` creates it)."""
    known = session_memo(session, "ledger.system_wallets")
    for wallet in wallets:
        if wallet.kind == MEMBER:
            session_memo(session, "ledger.member_wallets")[account.id, member_id] = wallet
        else:
            known[account.id, wallet.kind] = wallet


def member_wallets_in(session: Session, account: LedgerAccount, member_ids: list[int]) -> dict[int, Wallet]:
    """`member_wallet` for many members: their wallets in this account read in one statement, the missing
    ones created in one more. Returns {member id: wallet}."""
    mine = session_memo(session, "ledger.member_wallets")
    found = {member_id: mine[account.id, member_id] for member_id in member_ids if (account.id, member_id) in mine}
    wanted = sorted(set(member_ids) - set(found))
    if wanted:
        found.update((w.member_id, w) for w in session.scalars(select(Wallet).where(
            Wallet.ledger_account_id == account.id, Wallet.member_id.in_(wanted))))
        missing = [member_id for member_id in wanted if member_id not in found]
        if missing:
            now = utcnow()
            # As `member_wallet`: a wallet a concurrent request created first is kept, and read.
            # Parameters as a list (insertmanyvalues: one statement, compiled once), not a VALUES list of
            # 8 x rows literals, which SQLAlchemy would build and compile again for every batch.
            created = list(session.scalars(
                upsert_insert(session, Wallet).on_conflict_do_nothing().returning(Wallet), [
                    {"organization_id": account.organization_id, "ledger_account_id": account.id,
                     "member_id": member_id, "kind": MEMBER, "balance": 0, "held": 0, "pending_in": 0,
                     "created_at": now} for member_id in missing]))
            adopt_inserted(session, *created)
            found.update((w.member_id, w) for w in created)
            if any(member_id not in found for member_id in missing):
                found.update((w.member_id, w) for w in session.scalars(select(Wallet).where(
                    Wallet.ledger_account_id == account.id, Wallet.member_id.in_(missing))))
        for member_id in wanted:
            mine[account.id, member_id] = found[member_id]
    return found


_SYSTEM_WALLETS = select(Wallet).where(Wallet.ledger_account_id.in_(bindparam("account_ids", expanding=True)),
                                       Wallet.kind.in_((ISSUANCE, BURNED)))  # built once


def system_wallets(session: Session, accounts: list[LedgerAccount]) -> list[Wallet]:
    """The issuance and burned wallets of these accounts, in one statement (and remembered, as `system_wallet`)."""
    known = session_memo(session, "ledger.system_wallets")
    wanted = [a.id for a in accounts if (a.id, ISSUANCE) not in known or (a.id, BURNED) not in known]
    if wanted:
        for wallet in session.scalars(_SYSTEM_WALLETS, {"account_ids": wanted}):
            known[wallet.ledger_account_id, wallet.kind] = wallet
    return [known[a.id, kind] for a in accounts for kind in (ISSUANCE, BURNED)]


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
    reason = reason or Reason()
    posting = Posting(kind, account, source, target, amount, reason, actor, pending, set_id, whatever_member_status)
    check_posting(session, posting)
    member_id = (source if kind == BURN else target).member_id  # read now: posting expires the wallets
    tx = _inserted(session, _transaction_row(posting, utcnow()))  # one INSERT ... RETURNING id, no ORM flush
    keep(session, tx, account)  # callers read them again by id (the order's effects, the response)
    session_memo(session, "ledger.new_transactions")[tx.id] = True
    if pending:
        _hold(session, source, target, amount, account)
    else:
        _write_entries(session, source, target, amount, tx, account=account)
    if kind in (MINT, BURN):  # the member's feed and webhooks hear of points created or destroyed
        outbox.insert_events(session, [outbox.event_row(
            account.organization_id, "ledger-transaction-created", member_id=member_id,
            ledgerTransactionId=tx.id, type=kind, amount=amount)])
    return tx


# --- many movements at once (a batch) ------------------------------------------

@dataclass
class Posting:
    """One movement as `post` takes it, for checking and writing many at once (`post_all`)."""

    kind: str
    account: LedgerAccount
    source: Wallet
    target: Wallet
    amount: int
    reason: Reason
    actor: Actor
    pending: bool = False
    set_id: str | None = None
    whatever_member_status: bool = False


def check_posting(session: Session, p: Posting, movable: dict[int, bool] | None = None) -> None:
    """`post`'s checks before any write, in its order (see there); the debit is checked apart. `movable`: whether
    members may move points, as read already (`Funds.movable`); a member not in it is looked up."""
    if WALLET_KINDS.get(p.kind) != (p.source.kind, p.target.kind):
        raise ValueError(f"a {p.kind} cannot move points from a {p.source.kind} to a {p.target.kind} wallet")
    if not p.whatever_member_status:
        for wallet in (p.source, p.target):
            _require_member_can_move(session, wallet, movable)
    check_amount(p.amount)
    if not p.account.active:
        raise LedgerAccountNotActive("The ledger account is not active", field="ledgerAccountId")
    for wallet in (p.source, p.target):
        if wallet.ledger_account_id != p.account.id:
            raise ValidationFailed("Wallet does not belong to this ledger account", field="walletId")


class Funds:
    """What the wallets of a batch can give: read once under a row lock, then spent in memory.

    `lock` reads the member wallets (and the issuance wallet of an account with a maximum supply)
    with SELECT ... FOR UPDATE in id order (on SQLite the transaction holds the write lock already),
    so nothing changes them until the batch commits; `take` applies one movement's debit and credit
    or raises as the conditional update of `post` would."""

    def __init__(self, available: dict[int, int]):
        self.available = available  # member wallet: balance - held; capped issuance: balance (= -minted)
        self.movable: dict[int, bool] = {}  # member id: may move points (`Member.can_move_points`), read with the lock

    @classmethod
    def lock(cls, session: Session, organization_id: int, member_wallet_ids: list[int],
             capped_issuance_ids: list[int]) -> tuple[Funds, list[Wallet]]:
        """The organisation's member wallets of these ids and the issuance wallets named, locked and read, and
        whether each wallet's member may move points (`movable`, for `check_posting`), in one statement."""
        if not member_wallet_ids and not capped_issuance_ids:
            return cls({}), []
        found = session.execute(_lock_wallets(session.get_bind().dialect.name), {
            "member_wallet_ids": member_wallet_ids, "capped_ids": capped_issuance_ids,
            "organization_id": organization_id}).all()
        funds = cls({w.id: w.available for w, _ in found})
        funds.movable = {w.member_id: bool(movable) for w, movable in found if w.member_id is not None}
        return funds, [w for w, _ in found]

    def copy(self) -> Funds:
        copied = Funds(dict(self.available))
        copied.movable = self.movable
        return copied

    def take(self, p: Posting) -> None:
        source, capped = p.source, p.account.max_supply is not None
        if source.kind == MEMBER or (source.kind == ISSUANCE and capped and not p.pending):
            left = self.available[source.id] - p.amount
            if left < (0 if source.kind == MEMBER else -p.account.max_supply):
                raise _refuse_debit(source)
            self.available[source.id] = left
        if p.target.kind == MEMBER and not p.pending and p.target.id in self.available:
            self.available[p.target.id] += p.amount


@cache
def _lock_wallets(dialect: str):
    """`Funds.lock`'s statement, built once per dialect: the wallets with their members' standing (an outer join:
    an issuance wallet has no member), only the wallets locked (PostgreSQL: FOR UPDATE OF wallets)."""
    from .members import Member

    stmt = (select(Wallet, Member.can_move_points.label("movable"))
            .outerjoin(Member, Member.id == Wallet.member_id)
            .where(or_(Wallet.id.in_(bindparam("member_wallet_ids", expanding=True)) & (Wallet.kind == MEMBER),
                       Wallet.id.in_(bindparam("capped_ids", expanding=True))),
                   Wallet.organization_id == bindparam("organization_id"))
            .order_by(Wallet.kind != MEMBER, Wallet.id).execution_options(populate_existing=True))
    return stmt.with_for_update(of=Wallet.__table__) if dialect == "postgresql" else stmt


def post_all(session: Session, postings: list[Posting], *,
             as_rows: bool = False) -> list[LedgerTransaction] | list[Posted]:
    """Write movements already checked (`check_posting`) and covered (`Funds.take`): the transactions,
    the entries, the balance changes, the shards and the outbox events in one statement each.

    Returns the transactions as objects of the session (a purchase reads them again by id), or with `as_rows`
    as `Posted` records of their rows (a batch, which only answers with them: no ORM object per item)."""
    if not postings:
        return []
    now = utcnow()
    rows = [_transaction_row(p, now) for p in postings]
    txs = _insert_rows(session, rows) if as_rows else _insert_objects(session, rows)
    session_memo(session, "ledger.new_transactions").update((tx.id, True) for tx in txs)
    entries, shards, events = [], {}, []
    changes: dict[str, dict[int, int]] = {"balance": {}, "held": {}, "pending_in": {}}

    def add(column: str, wallet_id: int, delta: int) -> None:
        changes[column][wallet_id] = changes[column].get(wallet_id, 0) + delta

    for p, tx in zip(postings, txs):
        if p.kind in (MINT, BURN):
            events.append(outbox.event_row(p.account.organization_id, "ledger-transaction-created",
                                           member_id=(p.source if p.kind == BURN else p.target).member_id,
                                           ledgerTransactionId=tx.id, type=p.kind, amount=p.amount))
        if p.pending:
            if p.source.kind == MEMBER:
                add("held", p.source.id, p.amount)
            if p.target.kind == MEMBER:
                add("pending_in", p.target.id, p.amount)
            continue
        for wallet, delta, other in ((p.source, -p.amount, p.target), (p.target, p.amount, p.source)):
            entries.append({"transaction_id": tx.id, "wallet_id": wallet.id, "amount": delta, "created_at": now})
            if wallet.kind == MEMBER or (wallet.kind == ISSUANCE and p.account.max_supply is not None):
                add("balance", wallet.id, delta)
            else:
                shards[wallet.id, other.id % SHARDS] = shards.get((wallet.id, other.id % SHARDS), 0) + delta
    if entries:
        session.execute(_INSERT_ENTRIES, entries)
    changed = sorted(set().union(*(by_wallet.keys() for by_wallet in changes.values())))
    if changed:  # one executemany in wallet id order (the lock order), the same compiled statement for any batch
        session.execute(_ADD_TO_WALLET, [
            {"wallet_id": wallet_id, **{f"add_{column}": by_wallet.get(wallet_id, 0)
                                        for column, by_wallet in changes.items()}} for wallet_id in changed])
    if shards:
        _add_to_shards(session, shards)
    outbox.insert_events(session, events)
    _forget_balances(*{id(w): w for p in postings for w in (p.source, p.target)}.values())  # each wallet once
    for p, tx in zip(postings, txs):
        if not p.pending:
            hooks.send(hooks.points_moved, session, tx, p.source, p.target, p.amount, p.account)
            hooks.send(hooks.after_posting, session, tx, p.target)
    return txs


class Posted(SimpleNamespace):
    """A transaction `post_all(as_rows=True)` wrote: its row's columns as attributes, as the database returned them
    (what a `LedgerTransaction` of it would hold), and not an object of the session."""

    audit_target_type = "ledgertransaction"  # audited as the transaction it is (audit.record_many)


def _insert_objects(session: Session, rows: list[dict[str, Any]]) -> list[LedgerTransaction]:
    # One multi-row INSERT ... RETURNING. SQLite does not promise the order of the rows returned, and asking
    # SQLAlchemy to sort them costs a statement per row there, so each posting takes a returned row of the same
    # content (rows of the same content are interchangeable).
    returned: dict[tuple, list[LedgerTransaction]] = {}
    for tx in session.scalars(_INSERT_TRANSACTIONS, rows):  # the ORM builds 20 objects from rows faster than we do
        returned.setdefault(_content(tx.__dict__), []).append(tx)
    txs = [returned[_content(row)].pop(0) for row in rows]
    adopt_inserted(session, *txs)
    return txs


def _insert_rows(session: Session, rows: list[dict[str, Any]]) -> list[Posted]:
    """`_insert_objects` as Core rows: half the CPU of the ORM's insert and objects (20 rows, SQLite). On PostgreSQL
    the rows go as one array per column (`_insert_transactions_unnest`)."""
    unnest = _statements(session).insert_transaction_rows
    if unnest is None:
        result = session.execute(_INSERT_TRANSACTION_ROWS, rows)
    else:
        columns = {name: [row[name] for row in rows] for name in _UNNESTED}
        columns["tags"] = [json.dumps(tags) for tags in columns["tags"]]
        result = session.execute(unnest, columns)
    returned: dict[tuple, list[Posted]] = {}
    for row in result.mappings():
        returned.setdefault(_content(row), []).append(Posted(**row))
    return [returned[_content(row)].pop(0) for row in rows]


_UNNESTED = [column.name for column in LedgerTransaction.__table__.c if column.name != "id"]  # all but the id


def _insert_transactions_unnest():
    """PostgreSQL: `INSERT INTO ledger_transactions (...) SELECT ... FROM unnest(:organization_id::BIGINT[], ...)
    RETURNING *`, the rows bound as one array per column (tags as JSON text): the same short text whatever the
    number of rows, so psycopg converts it once and prepares it, where the multi-row VALUES text of 20 rows (400
    parameters, ~12 KB) is past psycopg's cache and parsed again on every batch (bench/profiles/README.md)."""
    table = func.unnest(*(bindparam(name, type_=postgresql.ARRAY(String if name == "tags" else _TX.c[name].type))
                          for name in _UNNESTED)).table_valued(*_UNNESTED).render_derived()
    values = select(*(cast(table.c.tags, _TX.c.tags.type) if name == "tags" else table.c[name] for name in _UNNESTED))
    return insert(_TX).from_select(_UNNESTED, values).returning(*_TX.c)


def _content(values: Mapping[str, Any]) -> tuple:
    """What a transaction row is matched back by (`_insert_objects`, `_insert_rows`): its content, as the row bound
    (`_transaction_row`) and as the database returned it. So every column here must come back exactly as it was
    bound, compared by `repr`: the same Python type and value (a whole number stays an int, tags a list of str), a
    time in UTC (`in_utc`: bound at another offset it comes back as the same moment in UTC, and would not be found:
    KeyError), no text or number the database rounds or pads. A column that may come back otherwise does not belong
    here (the columns not listed, the id among them, are not matched)."""
    return tuple(repr(values[name]) for name in (
        "type", "status", "amount", "from_wallet_id", "to_wallet_id", "set_id", "system_unique_key", "external_id",
        "external_event_date", "description", "tags", "actor_kind", "actor_id", "actor_label"))


def _transaction_row(p: Posting, now: dt.datetime) -> dict[str, Any]:
    r, actor = p.reason, p.actor
    return {"organization_id": p.account.organization_id, "ledger_id": p.account.ledger_id,
            "ledger_account_id": p.account.id, "type": p.kind, "status": PENDING if p.pending else POSTED,
            "amount": p.amount, "from_wallet_id": p.source.id, "to_wallet_id": p.target.id, "pending_id": None,
            "reverts_id": None, "set_id": p.set_id, "system_unique_key": r.system_unique_key,
            "external_id": r.external_id, "external_event_date": in_utc(r.external_event_date),  # matched back by value
            "description": r.description, "tags": list(r.tags or []), "actor_kind": actor.kind,
            "actor_id": actor.id, "actor_label": actor.label, "created_at": now}


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


def wallet_owners(session: Session, wallet_ids) -> dict[int, int | None]:
    """The member (None for a system wallet) of each wallet, from the session where it already holds the
    wallet (a movement just posted), else read at once."""
    wanted = {i for i in wallet_ids if i is not None}
    owners = {w.id: w.member_id for w in (session.identity_map.get(identity_key(Wallet, i)) for i in wanted) if w}
    if wanted - owners.keys():
        owners.update(session.execute(select(Wallet.id, Wallet.member_id).where(
            Wallet.id.in_(wanted - owners.keys()))).all())
    return owners


def transaction_states(session: Session, txs: list[LedgerTransaction]) -> dict[int, str]:
    """`transaction_state` of many transactions, from one statement (none when all were posted in this
    database transaction and nothing resolved them since: nothing else can have)."""
    untouched = session_memo(session, "ledger.new_transactions")
    ids = [tx.id for tx in txs if tx.id not in untouched]
    if not ids:
        return {tx.id: tx.status for tx in txs}
    later = session.execute(select(LedgerTransaction.type, LedgerTransaction.pending_id, LedgerTransaction.reverts_id)
                            .where(or_(LedgerTransaction.pending_id.in_(ids), LedgerTransaction.reverts_id.in_(ids))))
    resolved, reverted = {}, set()
    for kind, pending_id, reverts_id in later:
        if pending_id is not None:
            resolved[pending_id] = kind
        if reverts_id is not None:
            reverted.add(reverts_id)
    return {tx.id: state_of(tx.status, resolved.get(tx.id), tx.id in reverted) for tx in txs}


def transaction_page(session: Session, organization_id: int, ledger_id: int, account_id: int, *, page: int,
                     limit: int, order, count_cap: int, **filters) -> Page:
    """A page of the account's transactions matching `filters` (`listed_transactions`; None or empty: not
    given), ordered by `order` (a `pagination.parse_order` clause over the table's columns), with their total
    counted up to `count_cap` (`pagination.total_of`; not counted again once these filters were seen to reach it,
    `_REACHED_CAP`), the account checked to be the ledger's in the organisation (else NotFound, as
    `get_account`): all in one statement (`pagination.page_within`)."""
    listed = None
    if fits_id(account_id) and fits_id(ledger_id):  # else it names nothing, and must not reach the database
        given = {name: value for name, value in filters.items() if value is not None and value != ""}
        known = (organization_id, ledger_id, account_id, frozenset(given.items()), count_cap)
        counts = not _REACHED_CAP.known(session, known)
        statement = _page_statement(order.element.name, order.modifier is operators.desc_op, frozenset(given),
                                    count_cap if counts else None)
        listed = page_within(session, statement, {**given, "account_id": account_id, "ledger_id": ledger_id,
                                                  "organization_id": organization_id},
                             page=page, limit=limit, count_cap=count_cap, at_least=0 if counts else count_cap)
        if counts and listed is not None:
            _REACHED_CAP.learn(session, known, listed.total, count_cap)
    if listed is None:
        raise NotFound("Ledger account not found", field="ledgerAccountId")
    return listed


# The transaction lists (organisation, ledger, account, filters given, cap) seen to reach their cap: transactions
# are never deleted and the columns the filters compare never change.
_REACHED_CAP = ReachedCaps()


@functools.cache
def _page_statement(order_by: str, descending: bool, filters: frozenset[str], cap: int | None):
    """`transaction_page`'s statement for one order, one set of filters given and one cap (None: no count), made
    once (building it costs more than running it)."""
    tx, account = LedgerTransaction.__table__, LedgerAccount.__table__
    owned = exists().where(account.c.id == bindparam("account_id"),
                           account.c.organization_id == bindparam("organization_id"),
                           account.c.ledger_id == bindparam("ledger_id"))
    column = tx.c[order_by]
    return page_within_statement(
        listed_transactions(bindparam("account_id"), owned=owned, **{name: bindparam(name) for name in filters}),
        owned, order=column.desc() if descending else column.asc(), key=tx.c.id, count_cap=cap)


def listed_transactions(account_id, *, owned=None, wallet_id=None, system_unique_key=None, since=None, until=None,
                        from_id=None, to_id=None, type=None):
    """The account's transactions matching the filters given (None: not given; values or bind parameters), as
    rows: the table's columns, the members of their wallets (`from_member_id`, `to_member_id`) and what their
    state depends on (`resolution`, `reverted`: see `state_of`), the extra columns computed for the rows read only
    (lookups in unique indexes). `owned`: a condition they also require (that the caller may see the account)."""
    tx = LedgerTransaction.__table__
    stmt = select(*tx.c, *_LISTED).where(tx.c.ledger_account_id == account_id)
    if owned is not None:
        stmt = stmt.where(owned)
    if wallet_id is not None:
        stmt = stmt.where((tx.c.from_wallet_id == wallet_id) | (tx.c.to_wallet_id == wallet_id))
    if system_unique_key is not None:
        stmt = stmt.where(tx.c.system_unique_key == system_unique_key)
    if since is not None:
        stmt = stmt.where(tx.c.external_event_date >= since)
    if until is not None:
        stmt = stmt.where(tx.c.external_event_date <= until)
    if from_id is not None:
        stmt = stmt.where(tx.c.id >= from_id)
    if to_id is not None:
        stmt = stmt.where(tx.c.id <= to_id)
    if type is not None:
        stmt = stmt.where(tx.c.type == type)
    return stmt


def _listed_columns() -> tuple:
    tx, later = LedgerTransaction.__table__, LedgerTransaction.__table__.alias("later")

    def owner_of(wallet_column):
        wallet = Wallet.__table__.alias()
        return select(wallet.c.member_id).where(wallet.c.id == wallet_column).scalar_subquery()

    return (owner_of(tx.c.from_wallet_id).label("from_member_id"), owner_of(tx.c.to_wallet_id).label("to_member_id"),
            select(later.c.type).where(later.c.pending_id == tx.c.id).scalar_subquery().label("resolution"),
            exists().where(later.c.reverts_id == tx.c.id).label("reverted"))


_LISTED = _listed_columns()


def state_of(status: str, resolution: str | None, reverted: bool) -> str:
    """A transaction's state from its status, the type of the transaction that resolved it (a capture or a
    void; None while pending) and whether a revert names it."""
    if status == PENDING:
        return {CAPTURE: "captured", VOID: "voided"}.get(resolution, PENDING)
    return "reverted" if reverted else POSTED


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
    for kind, in_shards in session.execute(
            select(Wallet.kind, func.sum(WalletShard.balance)).join(Wallet, Wallet.id == WalletShard.wallet_id)
            .where(Wallet.ledger_account_id == account_id).group_by(Wallet.kind)):
        rows[kind] = int(rows.get(kind, 0)) + int(in_shards or 0)
    minted = -int(rows.get(ISSUANCE, 0))
    burned = int(rows.get(BURNED, 0))
    return {"minted": minted, "burned": burned, "circulating": minted - burned,
            "memberBalances": int(rows.get(MEMBER, 0))}


def balances_of(session: Session, wallet_ids: list[int]) -> dict[int, int]:
    """The balance of each wallet, a system wallet's shards included (what its entries sum to)."""
    found = dict(session.execute(select(Wallet.id, Wallet.balance).where(Wallet.id.in_(wallet_ids))).all())
    for wallet_id, in_shards in session.execute(
            select(WalletShard.wallet_id, func.sum(WalletShard.balance))
            .where(WalletShard.wallet_id.in_(wallet_ids)).group_by(WalletShard.wallet_id)):
        found[wallet_id] += int(in_shards or 0)
    return found


# --- internals ---------------------------------------------------------------

# The write path's statements, built once on the tables (Core: no ORM bookkeeping per execution); each execution
# then finds its compiled form in SQLAlchemy's cache (same statement, values as bound parameters).
_TX, _ENTRIES, _WALLETS, _SHARDS = (LedgerTransaction.__table__, LedgerEntry.__table__, Wallet.__table__,
                                    WalletShard.__table__)
_INSERT_TRANSACTION = insert(_TX).returning(_TX.c.id)
_INSERT_TRANSACTIONS = insert(LedgerTransaction).returning(LedgerTransaction)  # many at once (post_all)
_INSERT_TRANSACTION_ROWS = insert(_TX).returning(*_TX.c)  # the same, as rows (post_all(as_rows=True))
_INSERT_ENTRIES = insert(_ENTRIES)
_CREDIT = update(_WALLETS).where(_WALLETS.c.id == bindparam("wallet_id")).values(
    balance=_WALLETS.c.balance + bindparam("delta"))
_DEBIT_MEMBER = _CREDIT.where(_WALLETS.c.balance - _WALLETS.c.held >= -bindparam("delta"))
_ADD_TO_WALLET = update(_WALLETS).where(_WALLETS.c.id == bindparam("wallet_id")).values(
    balance=_WALLETS.c.balance + bindparam("add_balance"), held=_WALLETS.c.held + bindparam("add_held"),
    pending_in=_WALLETS.c.pending_in + bindparam("add_pending_in"))  # a batch's, checked before (Funds)
_DEBIT_SUPPLY = _CREDIT.where(_WALLETS.c.balance + bindparam("delta") >= bindparam("floor"))


@dataclass(frozen=True)
class _DialectStatements:
    add_to_shard: Any
    insert_transaction_rows: Any = None  # PostgreSQL's (`_insert_rows`); None: the multi-row INSERT


_BY_DIALECT: dict[str, _DialectStatements] = {}


def _statements(session: Session) -> _DialectStatements:
    """The statements whose SQL differs by database (the upserts), built once per dialect."""
    name = session.get_bind().dialect.name
    found = _BY_DIALECT.get(name)
    if found is None:
        upsert = (postgresql if name == "postgresql" else sqlite).insert(_SHARDS)
        found = _BY_DIALECT[name] = _DialectStatements(add_to_shard=upsert.on_conflict_do_update(
            index_elements=[_SHARDS.c.wallet_id, _SHARDS.c.shard],
            set_={"balance": _SHARDS.c.balance + upsert.excluded.balance}),
            insert_transaction_rows=_insert_transactions_unnest() if name == "postgresql" else None)
    return found


def _inserted(session: Session, row: dict[str, Any]) -> LedgerTransaction:
    """The transaction `row` inserted by one Core statement, and as an object in the session (no ORM flush)."""
    tx = LedgerTransaction(**row, id=session.execute(_INSERT_TRANSACTION, row).scalar_one())
    adopt_inserted(session, tx)
    return tx


def _require_member_can_move(session: Session, wallet: Wallet, movable: dict[int, bool] | None = None) -> None:
    from .members import Member

    if wallet.kind != MEMBER or wallet.member_id is None:
        return
    can = movable.get(wallet.member_id) if movable else None
    if can is None:
        member = session.get(Member, wallet.member_id)
        can = member is not None and member.can_move_points
    if not can:
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
    session_memo(session, "ledger.new_transactions").pop(original.id, None)  # its state changed
    return tx


def _require_unresolved_pending(session: Session, tx: LedgerTransaction) -> None:
    if tx.status != PENDING:
        raise NotPending("Only pending transactions can be captured or voided", field="ledgerTransactionId")
    if session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.pending_id == tx.id)):
        raise AlreadyResolved("Transaction was already captured or voided", field="ledgerTransactionId")


def _wallets_of(session: Session, tx: LedgerTransaction) -> tuple[Wallet, Wallet]:
    return session.get(Wallet, tx.from_wallet_id), session.get(Wallet, tx.to_wallet_id)


def _refuse_debit(wallet: Wallet):
    if wallet.kind == ISSUANCE:
        return MaxSupplyExceeded("Minting this amount would exceed the account's maximum supply", field="amount")
    return InsufficientBalance("Not enough points in the wallet", field="amount")


def _write_entries(session: Session, source: Wallet, target: Wallet, amount: int, tx: LedgerTransaction, *,
                   account: LedgerAccount) -> None:
    """Move `amount` from source to target: a balance change per wallet (member wallets in id order, then
    the system wallet), and both entries in one statement."""
    for wallet, delta in _in_lock_order((source, -amount), (target, amount)):
        _change_balance(session, wallet, delta, account, member_wallet=target if wallet is source else source)
    now = utcnow()
    session.execute(_INSERT_ENTRIES, [
        {"transaction_id": tx.id, "wallet_id": source.id, "amount": -amount, "created_at": now},
        {"transaction_id": tx.id, "wallet_id": target.id, "amount": amount, "created_at": now}])
    _forget_balances(source, target)
    hooks.send(hooks.points_moved, session, tx, source, target, amount, account)
    hooks.send(hooks.after_posting, session, tx, target)


def _in_lock_order(*changes: tuple[Wallet, int]) -> list[tuple[Wallet, int]]:
    """Member wallets in ascending id order, then system wallets (see the module docstring)."""
    return sorted(changes, key=lambda change: (change[0].kind != MEMBER, change[0].id))


def _change_balance(session: Session, wallet: Wallet, delta: int, account: LedgerAccount, *,
                    member_wallet: Wallet) -> None:
    """Add `delta` to the wallet's balance; a debit that the wallet cannot cover raises.

    A member wallet's debit is conditional on its available balance; an issuance debit of an account
    with a maximum supply on that supply (on the wallet row); any other system wallet change goes
    to the shard of the member wallet on the other side."""
    if wallet.kind == MEMBER or (wallet.kind == ISSUANCE and account.max_supply is not None):
        if delta >= 0:
            stmt, values = _CREDIT, {"wallet_id": wallet.id, "delta": delta}
        elif wallet.kind == MEMBER:
            stmt, values = _DEBIT_MEMBER, {"wallet_id": wallet.id, "delta": delta}
        else:
            stmt, values = _DEBIT_SUPPLY, {"wallet_id": wallet.id, "delta": delta, "floor": -account.max_supply}
        if session.execute(stmt, values).rowcount != 1:
            raise _refuse_debit(wallet)
        return
    _add_to_shards(session, {(wallet.id, member_wallet.id % SHARDS): delta})


def _add_to_shards(session: Session, deltas: dict[tuple[int, int], int]) -> None:
    """Add each delta to its (system wallet, shard) row, creating the row on first use; one statement (one
    executemany for many rows: the same compiled statement whatever their number). The rows go in (wallet, shard)
    order, so two batches lock the shards they share in the same order (the bench saw PostgreSQL's deadlock
    detector end a batch when they did not)."""
    session.execute(_statements(session).add_to_shard, [
        {"wallet_id": wallet_id, "shard": shard, "balance": delta} for (wallet_id, shard), delta in sorted(deltas.items())])


def _forget_balances(*wallets: Wallet) -> None:
    """The balances changed in the database: read them again when next asked (the rows stay known)."""
    for wallet in wallets:
        state = inspect(wallet)
        if state.session is not None:
            state.session.expire(wallet, ["balance", "held", "pending_in"])


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
    _forget_balances(source, target)


def _release(session: Session, source: Wallet, target: Wallet, amount: int) -> None:
    for wallet in sorted((source, target), key=lambda w: w.id):
        if wallet is source and source.kind != ISSUANCE:
            session.execute(update(Wallet).where(Wallet.id == source.id).values(held=Wallet.held - amount)
                            .execution_options(synchronize_session=False))
        elif wallet is target and target.kind == MEMBER:
            session.execute(update(Wallet).where(Wallet.id == target.id)
                            .values(pending_in=Wallet.pending_in - amount)
                            .execution_options(synchronize_session=False))
    _forget_balances(source, target)
