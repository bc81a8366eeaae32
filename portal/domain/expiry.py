"""Points expiry: points arrive in lots and leave oldest first.

For an account with `expires_in_months`, every credit to a member wallet opens
a lot expiring that many months later; every debit consumes the open lots in
order of expiry (oldest first). The expiry job burns what is left of lots whose
date has passed, so points expire in the same order they are spent.

Invariants:
- For a wallet whose account expired points from its first credit on, the sum
  of `remaining` over its lots equals its balance.
- A lot's `remaining` only goes down, never below zero; an expired lot is burned
  once (the burn consumes it, so a second run finds nothing left).
"""
from __future__ import annotations

import calendar
import datetime as dt

from sqlalchemy import ForeignKey, Index, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import ledger, hooks
from .actors import system_actor
from .base import Base, OwnedRow, utcnow
from .ledger import LedgerAccount, Reason, Wallet


class PointsLot(OwnedRow, Base):
    __tablename__ = "points_lots"
    __table_args__ = (Index("ix_points_lots_wallet_expiry", "wallet_id", "expires_at", "id"),
                      Index("ix_points_lots_expiry_open", "expires_at", "remaining"),
                      # Reports ask whether an account ever had expiring points.
                      Index("ix_points_lots_account", "ledger_account_id"))

    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"))
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"))
    amount: Mapped[int]
    remaining: Mapped[int]
    expires_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@hooks.connect(hooks.points_moved)
def _follow_movement(session: Session, tx, source: Wallet, target: Wallet, amount: int,
                     account: LedgerAccount) -> None:
    if not account.expires_in_months:
        return
    if source.kind == ledger.MEMBER:
        consume(session, source.id, amount)
    if target.kind == ledger.MEMBER:
        session.add(PointsLot(organization_id=account.organization_id, wallet_id=target.id,
                              ledger_account_id=account.id, transaction_id=tx.id, amount=amount, remaining=amount,
                              expires_at=add_months(tx.created_at or utcnow(), account.expires_in_months)))
        session.flush()


def consume(session: Session, wallet_id: int, amount: int) -> None:
    """Take `amount` from the wallet's open lots, the soonest-expiring first."""
    lots = session.scalars(select(PointsLot).where(PointsLot.wallet_id == wallet_id, PointsLot.remaining > 0)
                           .order_by(PointsLot.expires_at, PointsLot.id).with_for_update()
                           .execution_options(populate_existing=True))
    left = amount
    for lot in lots:
        if left <= 0:
            break
        taken = min(lot.remaining, left)
        lot.remaining -= taken
        left -= taken
    session.flush()


def expiring(session: Session, wallet_id: int, *, within: dt.timedelta = dt.timedelta(days=90)) -> list[dict]:
    """What expires when, soonest first: [{"expiresAt", "points"}] for the wallet's open lots."""
    until = utcnow() + within
    rows = session.execute(select(PointsLot.expires_at, func.sum(PointsLot.remaining))
                           .where(PointsLot.wallet_id == wallet_id, PointsLot.remaining > 0,
                                  PointsLot.expires_at <= until)
                           .group_by(PointsLot.expires_at).order_by(PointsLot.expires_at)).all()
    return [{"expiresAt": expires_at, "points": int(points)} for expires_at, points in rows]


def expire_due(session: Session, *, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Burn what is left of lots past their date; returns the points expired.

    Lots are claimed with FOR UPDATE SKIP LOCKED, so several workers can run this at once.
    """
    now = now or utcnow()
    lots = list(session.scalars(select(PointsLot).where(PointsLot.expires_at <= now, PointsLot.remaining > 0)
                                .order_by(PointsLot.expires_at, PointsLot.id).limit(batch)
                                .with_for_update(skip_locked=True)))
    expired = 0
    for lot in lots:
        session.refresh(lot)
        if lot.remaining <= 0:
            continue
        wallet = session.get(Wallet, lot.wallet_id)
        session.refresh(wallet)
        account = session.get(LedgerAccount, lot.ledger_account_id)
        amount = min(lot.remaining, wallet.available)
        if amount <= 0:
            continue
        reason = Reason(description="Points expired", tags=["expiry"], external_id=f"lot-{lot.id}")
        actor = system_actor(lot.organization_id, "expiry")
        # Expiry applies whatever the account status: it is the programme's rule, not the member's act.
        ledger.burn(session, account, wallet, amount, actor=actor, reason=reason, whatever_member_status=True)
        expired += amount
    return expired
