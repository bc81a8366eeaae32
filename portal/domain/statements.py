"""What a member reads about their own points: the history of a wallet with a
running balance, and points about to expire. Reads only.

Invariants:
- A history row's `balance_after` is the sum of the wallet's entries up to and
  including that entry, so the newest row always shows the wallet's balance
  (the ledger keeps balance = sum of entries).
- Only the member's own wallets are read: a wallet is looked up by the member
  and an account of the member's organisation, never by a wallet id from outside.
- Expiring points are reported only for accounts with `expires_in_months`,
  from the lots kept by expiry.py (which also expires them).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from . import expiry
from .base import get_owned
from .errors import ValidationFailed
from .ledger import CAPTURE, MINT, BURN, REVERT, TRANSFER, LedgerAccount, LedgerEntry, LedgerTransaction, Wallet
from .members import Member
from .pagination import Page, paginate

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


def member_account(session: Session, member: Member, account_id: int | None, default_account_id: int) -> LedgerAccount:
    """An account of the member's organisation (the default when None). Raises NotFound."""
    return get_owned(session, LedgerAccount, account_id if account_id is not None else default_account_id,
                     member.organization_id, what="Ledger account", field="account")


def own_wallet(session: Session, member: Member, account: LedgerAccount) -> Wallet | None:
    """The member's wallet in the account, or None before their first movement (nothing is created)."""
    return session.scalars(select(Wallet).where(Wallet.ledger_account_id == account.id,
                                                Wallet.member_id == member.id)).first()


def history(session: Session, wallet: Wallet | None, *, page: int = 0, limit: int = HISTORY_PAGE_SIZE,
            tx_type: str | None = None) -> Page:
    """Posted movements of the wallet, newest first, with the balance after each."""
    if tx_type and tx_type not in HISTORY_TYPES:
        raise ValidationFailed("Unknown type", field="type")
    if wallet is None:
        if page < 0:
            raise ValidationFailed("page must be 0 or more", field="page")
        return Page(total=0, page=page, limit=limit, items=[])
    earlier = aliased(LedgerEntry)
    running = (select(func.coalesce(func.sum(earlier.amount), 0))
               .where(earlier.wallet_id == LedgerEntry.wallet_id, earlier.id <= LedgerEntry.id)
               .correlate(LedgerEntry).scalar_subquery())
    stmt = (select(LedgerTransaction.id, LedgerEntry.created_at, LedgerTransaction.type,
                   LedgerTransaction.description, LedgerEntry.amount, running.label("balance_after"))
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerEntry.wallet_id == wallet.id))
    if tx_type:
        stmt = stmt.where(LedgerTransaction.type == tx_type)
    result = paginate(session, stmt, page=page, limit=limit, order=LedgerEntry.id.desc(), scalars=False)
    result.items = [HistoryRow(transaction_id=r[0], created_at=r[1], type=r[2], description=r[3] or "",
                               amount=int(r[4]), balance_after=int(r[5])) for r in result.items]
    return result


def expiring_points(session: Session, wallet: Wallet | None, account: LedgerAccount, *,
                    within: dt.timedelta = dt.timedelta(days=30)) -> ExpiringPoints | None:
    """Points whose validity ends within `within` (from the expiry engine's
    lots), or None when the account's points do not expire."""
    if not account.expires_in_months:
        return None
    if wallet is None:
        return ExpiringPoints(amount=0, first_expiry=None)
    due = expiry.expiring(session, wallet.id, within=within)
    return ExpiringPoints(amount=sum(row["points"] for row in due),
                         first_expiry=due[0]["expiresAt"] if due else None)
