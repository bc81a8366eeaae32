"""Points held at the till: reserve, then capture on confirm or release on cancel or expiry.

A till that authorises before the payment completes reserves points: a pending burn in
the programme's points account (ledger.burn(pending=True)), so the points are held
(`wallet.held`) and cannot be spent twice. The order that pays with them captures the hold
(fully, or partly when the basket shrank: the rest is released); a cancel, a release or
the worker after `expires_at` voids it.

Invariants:
- One hold per pending ledger transaction (unique `pending_transaction_id`); the hold's
  row is locked while it changes, and the ledger resolves a pending transaction at most
  once, so a hold is captured or released once even when two workers or requests race.
- status: held -> captured | released | expired; only a held hold changes.
- A reservation with a `systemUniqueKey` is made once: the same key and body replays it,
  the same key with another body is refused (IdempotencyKeyReused).
- Reserving more than the member has available is refused with PointsExceedBalance,
  naming the balance; nothing is held.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import idempotency, ledger
from .actors import Actor, system_actor
from .base import Base, OwnedRow, get_owned, utcnow
from .errors import Conflict, InsufficientBalance, ValidationFailed
from .ledger import LedgerAccount, Reason
from .members import Member
from .organizations import default_program

HELD, CAPTURED, RELEASED, EXPIRED = "held", "captured", "released", "expired"
DEFAULT_MINUTES, MAX_MINUTES = 15, 7 * 24 * 60


class PointsExceedBalance(Conflict):
    """More points asked (to reserve or redeem) than the member has available; the message names the balance."""

    code = "points_exceed_balance"
    title = "Not enough points"


class HoldNotHeld(Conflict):
    """The hold was captured, released or expired: it changes no more."""

    code = "hold_not_held"
    title = "The reservation is no longer held"


class RedeemExceedsHold(Conflict):
    """An order redeems more points than its reservation holds; nothing is captured."""

    code = "redeem_exceeds_hold"
    title = "More points redeemed than the reservation holds"


class PointsHold(OwnedRow, Base):
    """Points a till reserved for a member (`amount`, a pending burn) until the order captures them (`captured`,
    at most `amount`), or a cancel, a release or the worker after `expires_at` gives them back."""

    __tablename__ = "points_holds"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    pending_transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), unique=True)
    amount: Mapped[int]
    captured: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default=HELD)
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(default=None)


@dataclass
class Reservation:
    hold: PointsHold
    replayed: bool = False


def reserve(session: Session, member: Member, amount: int, *, actor: Actor, minutes: int = DEFAULT_MINUTES,
            external_id: str | None = None, system_unique_key: str | None = None) -> Reservation:
    """Hold `amount` points of the member's programme wallet for `minutes`.

    Raises ValidationFailed (points, expiresInMinutes), PointsExceedBalance, AccountNotActive,
    IdempotencyKeyReused.
    """
    ledger.check_amount(amount, "points")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_MINUTES:
        raise ValidationFailed(f"expiresInMinutes must be between 1 and {MAX_MINUTES}", field="expiresInMinutes")
    made: list[PointsHold] = []

    def perform() -> dict:
        program = default_program(session, member.organization_id)
        account = session.get(LedgerAccount, program.points_account_id)
        wallet = ledger.member_wallet(session, account, member.id)
        reason = Reason(description=f"Reserved at the till{f' for {external_id}' if external_id else ''}",
                        tags=["till-reservation"], external_id=external_id, system_unique_key=system_unique_key)
        pending = burn_or_refuse(session, account, wallet, amount, actor=actor, reason=reason, pending=True,
                                 field="points")
        hold = PointsHold(organization_id=member.organization_id, member_id=member.id, ledger_account_id=account.id,
                          pending_transaction_id=pending.id, amount=amount, external_id=external_id,
                          expires_at=utcnow() + dt.timedelta(minutes=minutes))
        session.add(hold)
        session.flush()
        made.append(hold)
        return {"holdId": hold.id}

    outcome = idempotency.run_once(session, member.organization_id, system_unique_key, "points.reserve",
                                   {"memberId": member.id, "points": amount, "minutes": minutes,
                                    "externalId": external_id}, perform)
    if made:
        return Reservation(made[0])
    return Reservation(get_hold(session, member.organization_id, outcome.result["holdId"]), replayed=True)


def burn_or_refuse(session: Session, account: LedgerAccount, wallet: ledger.Wallet, amount: int, *, actor: Actor,
                   reason: Reason, field: str, pending: bool = False) -> ledger.LedgerTransaction:
    """ledger.burn, with a refusal that names what the member has available. Raises PointsExceedBalance."""
    try:
        return ledger.burn(session, account, wallet, amount, actor=actor, reason=reason, pending=pending)
    except InsufficientBalance:
        session.refresh(wallet)
        raise PointsExceedBalance(f"The member has {max(wallet.available, 0)} points available; "
                                  f"{amount} cannot be redeemed", field=field) from None


def get_hold(session: Session, organization_id: int, hold_id: int, *, field: str = "reservationId") -> PointsHold:
    return get_owned(session, PointsHold, hold_id, organization_id, what="Reservation", field=field)


def locked(session: Session, hold: PointsHold) -> PointsHold:
    """The hold again, its row locked and read afresh (a concurrent change has committed)."""
    return session.scalars(select(PointsHold).where(PointsHold.id == hold.id).with_for_update()
                           .execution_options(populate_existing=True)).one()


def capture(session: Session, hold: PointsHold, amount: int, *, actor: Actor,
            reason: Reason | None = None) -> ledger.LedgerTransaction:
    """Post `amount` of the hold (at most what it holds); the rest is released.

    Raises HoldNotHeld (captured, released or expired, also when past `expires_at`), RedeemExceedsHold.
    """
    hold = locked(session, hold)
    _require_held(hold)
    if amount > hold.amount:
        raise RedeemExceedsHold(f"The reservation holds {hold.amount} points; {amount} cannot be redeemed",
                                field="pointsRedeemed")
    pending = session.get(ledger.LedgerTransaction, hold.pending_transaction_id)
    tx = ledger.capture(session, pending, actor=actor, amount=amount, reason=reason)
    hold.status, hold.captured, hold.resolved_at = CAPTURED, amount, utcnow()
    session.flush()
    return tx


def release(session: Session, hold: PointsHold, *, actor: Actor, expired: bool = False) -> PointsHold:
    """Give the held points back (a cancel, the till's release, or the worker after expiry).

    Releasing a released or expired hold again changes nothing; a captured one raises HoldNotHeld.
    """
    hold = locked(session, hold)
    if hold.status in (RELEASED, EXPIRED):
        return hold
    if hold.status != HELD:
        raise HoldNotHeld("The reservation was already captured", field="reservationId")
    pending = session.get(ledger.LedgerTransaction, hold.pending_transaction_id)
    ledger.void(session, pending, actor=actor,
                reason=Reason(description="Reservation expired" if expired else "Reservation released",
                              tags=["till-reservation"], external_id=hold.external_id))
    hold.status, hold.resolved_at = (EXPIRED if expired else RELEASED), utcnow()
    session.flush()
    return hold


def release_expired(session: Session, now: dt.datetime | None = None, batch: int = 500) -> int:
    """The worker's job: release holds past their expiry. Rows another worker holds are skipped."""
    now = now or utcnow()
    due = list(session.scalars(select(PointsHold).where(PointsHold.status == HELD, PointsHold.expires_at <= now)
                               .order_by(PointsHold.id).limit(batch).with_for_update(skip_locked=True)
                               .execution_options(populate_existing=True)))
    for hold in due:
        if hold.status == HELD:
            release(session, hold, actor=system_actor(hold.organization_id, "reservation-expiry"), expired=True)
    return len(due)


def _require_held(hold: PointsHold) -> None:
    if hold.status != HELD:
        raise HoldNotHeld(f"The reservation is {hold.status}", field="reservationId")
    if hold.expires_at <= utcnow():
        raise HoldNotHeld("The reservation has expired", field="reservationId")
