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

The wallet page is the member's most frequent page: `overview` (with the programme's tier ladder) and `history`
are one statement each, built once per process (bound parameters, so SQLAlchemy's cache key is computed once)
and run as Core statements; `member_overview` is the overview with the member and their organisation in the
same statement, for the member portal's session loader (the page's whole read is then two statements).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

from sqlalchemy import JSON, bindparam, exists, func, select, true, type_coerce
from sqlalchemy.orm import Session

from . import expiry, points, tiers
from .base import fits_id, get_owned
from .errors import NotFound, ValidationFailed
from .ledger import CAPTURE, MINT, BURN, REVERT, TRANSFER, LedgerAccount, LedgerEntry, LedgerTransaction, Wallet
from .members import Member
from .orders import PointsDebt, PurchaseOrder
from .organizations import LoyaltyProgram, Organization, default_program_select
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


class LadderStep(NamedTuple):
    """A tier of the programme as tier progress shows it."""
    id: int
    name: str
    min_points: int


@dataclass(frozen=True)
class WalletOverview:
    """The member's accounts and wallets (the default programme's points account first, then its tier points
    account, then by id), the default programme, the member's tier in it, its tier ladder (lowest first), and
    whether the member has any purchase orders and any debts in the points account (so that the page asks for
    them only then)."""
    program_id: int
    points_account_id: int
    tier_points_account_id: int
    accounts: list[AccountWallet]
    tier_id: int | None
    has_orders: bool
    has_debts: bool
    ladder: list[LadderStep]

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
    connection = session.connection()
    rows = connection.execute(_overview_statement(connection.dialect.name),
                              {"organization_id": member.organization_id, "member_id": member.id}).all()
    found = _overview_of(rows)
    if found is None:
        raise NotFound("Organization has no loyalty program")
    return found


def member_overview(session: Session, member_id: int) -> tuple[Member, Organization, WalletOverview | None] | None:
    """The member, their organisation and their wallet overview in one statement (the member portal's session
    loader runs it for the wallet page, which then reads nothing else but the history); None when there is no
    such member. The overview is None when the organisation has no programme. The caller checks that the
    member may be signed in (as it would with the member alone)."""
    if not fits_id(member_id):
        return None
    rows = session.execute(_member_overview_statement(session.connection().dialect.name),
                           {"member_id": member_id}).all()
    if not rows:
        return None
    member, organization = rows[0][0], rows[0][1]
    return member, organization, _overview_of(rows)


def _overview_of(rows) -> WalletOverview | None:
    """The overview from the statement's rows (an account each), or None when there is no programme."""
    if not rows or rows[0].program_id is None:
        return None  # a programme always has its points account: no programme, no account rows
    first = rows[0]
    main, tier = first.points_account_id, first.tier_points_account_id
    accounts = [AccountWallet(account_id=r.account_id, ledger_id=r.ledger_id, name=r.name,
                              expires_in_months=r.expires_in_months, wallet_id=r.wallet_id,
                              balance=r.balance or 0, held=r.held or 0, pending=r.pending_in or 0) for r in rows]
    accounts.sort(key=lambda a: (a.account_id != main, a.account_id != tier, a.account_id))
    ladder = sorted((LadderStep(*step) for step in first.ladder or ()), key=lambda t: (t.min_points, t.id))
    return WalletOverview(program_id=first.program_id, points_account_id=main, tier_points_account_id=tier,
                          accounts=accounts, tier_id=first.tier_id, has_orders=bool(first.has_orders),
                          has_debts=bool(first.has_debts), ladder=ladder)


def _default_program(organization_id, dialect: str):
    """The organisation's default programme (else its first) with the member's tier in it, its ladder (a JSON
    array of [id, name, min_points], in no order) and whether the member has orders and debts: one row."""
    program, member_tier, tier = LoyaltyProgram.__table__, MemberTier.__table__, Tier.__table__
    orders, debts = PurchaseOrder.__table__, PointsDebt.__table__
    member_id = bindparam("member_id")
    if dialect == "postgresql":
        steps = func.json_agg(func.json_build_array(tier.c.id, tier.c.name, tier.c.min_points))
    else:
        steps = func.json_group_array(func.json_array(tier.c.id, tier.c.name, tier.c.min_points))
    ladder = type_coerce(select(steps).where(tier.c.loyalty_program_id == program.c.id).scalar_subquery(), JSON)
    return default_program_select(
        program.c.id.label("program_id"), program.c.points_account_id, program.c.tier_points_account_id,
        select(member_tier.c.tier_id).where(member_tier.c.member_id == member_id,
                                            member_tier.c.loyalty_program_id == program.c.id)
        .scalar_subquery().label("tier_id"),
        exists().where(orders.c.member_id == member_id).label("has_orders"),
        exists().where(debts.c.member_id == member_id,
                       debts.c.ledger_account_id == program.c.points_account_id).label("has_debts"),
        ladder.label("ladder"), organization_id=organization_id).subquery("program")


def _overview_columns(default):
    account, wallet = LedgerAccount.__table__, Wallet.__table__
    return (account.c.id.label("account_id"), account.c.ledger_id, account.c.name, account.c.expires_in_months,
            wallet.c.id.label("wallet_id"), wallet.c.balance, wallet.c.held, wallet.c.pending_in,
            default.c.program_id, default.c.points_account_id, default.c.tier_points_account_id,
            default.c.tier_id, default.c.has_orders, default.c.has_debts, default.c.ladder)


def _own_wallet_join(member_id):
    account, wallet = LedgerAccount.__table__, Wallet.__table__
    return wallet, (wallet.c.ledger_account_id == account.c.id) & (wallet.c.member_id == member_id)


@cache
def _overview_statement(dialect: str):
    account = LedgerAccount.__table__
    organization_id = bindparam("organization_id")
    default = _default_program(organization_id, dialect)
    return (select(*_overview_columns(default)).select_from(account).join(default, true())
            .outerjoin(*_own_wallet_join(bindparam("member_id")))
            .where(account.c.organization_id == organization_id))


@cache
def _member_overview_statement(dialect: str):
    # The member's row, then their organisation's accounts (the default programme on each, computed once: a
    # derived table with LIMIT 1 whose organisation comes from an uncorrelated subquery on the member's id)
    # with the member's wallet in each. A member of an organisation without a programme still comes back once.
    account, member = LedgerAccount.__table__, Member.__table__
    member_id = bindparam("member_id")
    default = _default_program(select(member.c.organization_id).where(member.c.id == member_id).scalar_subquery(),
                               dialect)
    return (select(Member, Organization, *_overview_columns(default))
            .join(Organization, Organization.id == Member.organization_id)
            .outerjoin(default, true())
            .outerjoin(account, account.c.organization_id == Member.organization_id)
            .outerjoin(*_own_wallet_join(Member.id))
            .where(Member.id == member_id))


def tier_progress(overview: WalletOverview) -> dict:
    """`tiers.progress` for the wallet page, from what `overview` read (the member's tier, tier points and the
    programme's ladder): current tier, next tier, tier points still missing."""
    tier = next((t for t in overview.ladder if t.id == overview.tier_id), None)
    return tiers.progress_on(overview.ladder, tier, overview.tier_points)


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
