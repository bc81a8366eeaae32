"""What a member reads about their own points: the wallet page's overview (balances and what the page
needs to know of the programme), the history of a wallet with a running balance, and points about to
expire. Reads only.

Invariants:
- A history row's `balance_after` is the sum of the wallet's entries up to and
  including that entry, so the newest row always shows the wallet's balance
  (the ledger keeps balance = sum of entries).
- Only the member's own wallets are read: a wallet is looked up by the member
  and an account of the member's organisation, never by a wallet id from outside.
- Expiring points are reported only for accounts with `expires_in_months`,
  from the lots kept by expiry.py (which also expires them).

The wallet page is the member's most frequent page: `overview` and `history` are one statement each, built
once per process (bound parameters, so SQLAlchemy's cache key is computed once) and run as Core statements.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

from sqlalchemy import bindparam, exists, func, select, true
from sqlalchemy.orm import Session

from . import expiry, points, tiers
from .base import get_owned
from .errors import NotFound, ValidationFailed
from .ledger import CAPTURE, MINT, BURN, REVERT, TRANSFER, LedgerAccount, LedgerEntry, LedgerTransaction, Wallet
from .members import Member
from .orders import PointsDebt, PurchaseOrder
from .organizations import LoyaltyProgram, default_program_select
from .pagination import Page
from .tiers import MemberTier, Tier

HISTORY_TYPES = (MINT, BURN, TRANSFER, CAPTURE, REVERT)
HISTORY_PAGE_SIZE = 20


@dataclass
class HistoryRow:
    transaction_id: int
    created_at: dt.datetime
    type: str
    description: str
    amount: int
    balance_after: int


@dataclass
class ExpiringPoints:
    amount: int
    first_expiry: dt.datetime | None


@dataclass(frozen=True)
class AccountWallet:
    """An account of the member's organisation and the member's wallet in it (None before a first movement)."""
    account_id: int
    ledger_id: int
    name: str
    expires_in_months: int | None
    wallet_id: int | None
    balance: int
    held: int
    pending: int

    def balance_row(self) -> dict:
        """The row as `points.balances` gives it."""
        return points.balance_row(self.ledger_id, self.account_id, self.name, self.wallet_id, self.balance,
                                  self.held, self.pending)


@dataclass(frozen=True)
class WalletOverview:
    """The member's accounts and wallets (the default programme's points account first, then its tier points
    account, then by id), the default programme, the member's tier in it, and whether the member has any
    purchase orders and any debts in the points account (so that the page asks for them only then)."""
    program_id: int
    points_account_id: int
    tier_points_account_id: int
    accounts: list[AccountWallet]
    tier_id: int | None
    has_orders: bool
    has_debts: bool

    def account(self, account_id: int | None) -> AccountWallet:
        """The account (the programme's points account when None). Raises NotFound: not one of the organisation's."""
        wanted = self.points_account_id if account_id is None else account_id
        for row in self.accounts:
            if row.account_id == wanted:
                return row
        raise NotFound("Ledger account not found", field="account")

    @property
    def balances(self) -> list[dict]:
        return [row.balance_row() for row in self.accounts]

    @property
    def tier_points(self) -> int:
        return self.account(self.tier_points_account_id).balance


def overview(session: Session, member: Member) -> WalletOverview:
    """The member's wallet overview in one statement. Raises NotFound when the organisation has no programme."""
    rows = session.connection().execute(_overview_statement(), {"organization_id": member.organization_id,
                                                                "member_id": member.id}).all()
    if not rows:
        raise NotFound("Organization has no loyalty program")  # a programme always has its points account
    first = rows[0]
    main, tier = first.points_account_id, first.tier_points_account_id
    accounts = [AccountWallet(account_id=r.id, ledger_id=r.ledger_id, name=r.name,
                              expires_in_months=r.expires_in_months, wallet_id=r.wallet_id,
                              balance=r.balance or 0, held=r.held or 0, pending=r.pending_in or 0) for r in rows]
    accounts.sort(key=lambda a: (a.account_id != main, a.account_id != tier, a.account_id))
    return WalletOverview(program_id=first.program_id, points_account_id=main, tier_points_account_id=tier,
                          accounts=accounts, tier_id=first.tier_id, has_orders=bool(first.has_orders),
                          has_debts=bool(first.has_debts))


@cache
def _overview_statement():
    account, wallet, program = LedgerAccount.__table__, Wallet.__table__, LoyaltyProgram.__table__
    member_id = bindparam("member_id")
    member_tier = MemberTier.__table__
    orders, debts = PurchaseOrder.__table__, PointsDebt.__table__
    default = default_program_select(
        program.c.id.label("program_id"), program.c.points_account_id, program.c.tier_points_account_id,
        select(member_tier.c.tier_id).where(member_tier.c.member_id == member_id,
                                            member_tier.c.loyalty_program_id == program.c.id)
        .scalar_subquery().label("tier_id"),
        exists().where(orders.c.member_id == member_id).label("has_orders"),
        exists().where(debts.c.member_id == member_id,
                       debts.c.ledger_account_id == program.c.points_account_id).label("has_debts")).subquery("program")
    return (select(account.c.id, account.c.ledger_id, account.c.name, account.c.expires_in_months,
                   wallet.c.id.label("wallet_id"), wallet.c.balance, wallet.c.held, wallet.c.pending_in,
                   default.c.program_id, default.c.points_account_id, default.c.tier_points_account_id,
                   default.c.tier_id, default.c.has_orders, default.c.has_debts)
            .select_from(account).join(default, true())
            .outerjoin(wallet, (wallet.c.ledger_account_id == account.c.id) & (wallet.c.member_id == member_id))
            .where(account.c.organization_id == bindparam("organization_id")))


def tier_progress(session: Session, overview) -> dict:
    """`tiers.progress` for the wallet page, from what `overview` read (the member's tier and tier points) and the
    programme's ladder (one statement): current tier, next tier, tier points still missing."""
    steps = ladder(session, overview.program_id)
    tier = next((t for t in steps if t.id == overview.tier_id), None)
    return tiers.progress_on(steps, tier, overview.tier_points)


def ladder(session: Session, program_id: int) -> list:
    """The programme's tiers, lowest first, as rows (id, name, min_points): what tier progress shows."""
    return session.connection().execute(_ladder_statement(), {"program_id": program_id}).all()


@cache
def _ladder_statement():
    tier = Tier.__table__
    return (select(tier.c.id, tier.c.name, tier.c.min_points)
            .where(tier.c.loyalty_program_id == bindparam("program_id")).order_by(tier.c.min_points, tier.c.id))


def member_account(session: Session, member: Member, account_id: int | None, default_account_id: int) -> LedgerAccount:
    """An account of the member's organisation (the default when None). Raises NotFound."""
    return get_owned(session, LedgerAccount, account_id if account_id is not None else default_account_id,
                     member.organization_id, what="Ledger account", field="account")


def own_wallet(session: Session, member: Member, account: LedgerAccount) -> Wallet | None:
    """The member's wallet in the account, or None before their first movement (nothing is created)."""
    return session.scalars(select(Wallet).where(Wallet.ledger_account_id == account.id,
                                                Wallet.member_id == member.id)).first()


def history(session: Session, wallet_id: int | None, *, page: int = 0, limit: int = HISTORY_PAGE_SIZE,
            tx_type: str | None = None) -> Page:
    """Posted movements of the wallet, newest first, with the balance after each, and how many there are
    (of the type when given): one statement, a second one only for a page past the end."""
    if tx_type and tx_type not in HISTORY_TYPES:
        raise ValidationFailed("Unknown type", field="type")
    if page < 0:
        raise ValidationFailed("page must be 0 or more", field="page")
    if wallet_id is None:
        return Page(total=0, page=page, limit=limit, items=[])
    params = {"wallet_id": wallet_id, "limit": limit, "offset": page * limit}
    if tx_type:
        params["type"] = tx_type
    rows = session.connection().execute(_history_statement(bool(tx_type)), params).all()
    if rows:
        total = rows[0].total
    else:  # past the end (or nothing at all): the page cannot tell the total
        total = session.connection().execute(_history_count_statement(bool(tx_type)), params).scalar_one()
    items = [HistoryRow(transaction_id=r.transaction_id, created_at=r.created_at, type=r.type,
                        description=r.description or "", amount=int(r.amount), balance_after=int(r.balance_after))
             for r in rows]
    return Page(total=int(total), page=page, limit=limit, items=items)


def _wallet_movements():
    """Every entry of the wallet with its transaction and the running balance after it."""
    entry, tx = LedgerEntry.__table__, LedgerTransaction.__table__
    return (select(entry.c.id.label("entry_id"), tx.c.id.label("transaction_id"), entry.c.created_at, tx.c.type,
                   tx.c.description, entry.c.amount,
                   func.sum(entry.c.amount).over(order_by=entry.c.id, rows=(None, 0)).label("balance_after"))
            .join(tx, tx.c.id == entry.c.transaction_id)
            .where(entry.c.wallet_id == bindparam("wallet_id"))
            .subquery("movements"))


@cache
def _history_statement(by_type: bool):
    # The running balance is a window over all the wallet's entries (a type filter applies after it), and
    # the total is a window over the filtered rows, both computed before LIMIT: one pass over the wallet.
    moves = _wallet_movements()
    stmt = select(moves.c.transaction_id, moves.c.created_at, moves.c.type, moves.c.description, moves.c.amount,
                  moves.c.balance_after, func.count().over().label("total"))
    if by_type:
        stmt = stmt.where(moves.c.type == bindparam("type"))
    return stmt.order_by(moves.c.entry_id.desc()).limit(bindparam("limit")).offset(bindparam("offset"))


@cache
def _history_count_statement(by_type: bool):
    entry, tx = LedgerEntry.__table__, LedgerTransaction.__table__
    stmt = select(func.count()).select_from(entry).where(entry.c.wallet_id == bindparam("wallet_id"))
    if by_type:
        stmt = stmt.join(tx, tx.c.id == entry.c.transaction_id).where(tx.c.type == bindparam("type"))
    return stmt


def expiring_points(session: Session, wallet_id: int | None, expires_in_months: int | None, *,
                    within: dt.timedelta = dt.timedelta(days=30)) -> ExpiringPoints | None:
    """Points of the wallet whose validity ends within `within` (from the expiry engine's lots), or None when
    the account's points do not expire (`expires_in_months` unset)."""
    if not expires_in_months:
        return None
    if wallet_id is None:
        return ExpiringPoints(amount=0, first_expiry=None)
    due = expiry.expiring(session, wallet_id, within=within)
    return ExpiringPoints(amount=sum(row["points"] for row in due),
                         first_expiry=due[0]["expiresAt"] if due else None)
