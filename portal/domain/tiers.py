"""Tiers: ordered levels of a loyalty programme, reached with tier points.

Invariants:
- A member has at most one current tier per programme (one MemberTier row).
- Crossing a tier's `min_points` with the tier-points balance promotes the
  member automatically, never demotes; a manual set may carry an expiry.
- Every change of tier writes a TierHistory row and a `member-tier-set` event.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit, outbox, hooks
from .actors import Actor, system_actor
from .base import (Base, IndexedOwnedRow, OwnedRow, add_unique, assign_given, get_owned, memo_follows_rows, session_memo,
                   utcnow)
from .errors import DuplicateValue, NotFound, ValidationFailed
from .organizations import LoyaltyProgram, Organization, program_for_tier_account

AUTO, MANUAL = "auto", "manual"


class Tier(IndexedOwnedRow, Base):
    """A level of a loyalty programme (`gold`), reached when a member's tier-points balance crosses `min_points`;
    names are unique in the programme, and `color` marks the tier in the console's lists and charts."""

    __tablename__ = "tiers"
    __table_args__ = (UniqueConstraint("loyalty_program_id", "name"),)

    loyalty_program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(2000), default="")
    min_points: Mapped[int] = mapped_column(default=0)
    color: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MemberTier(OwnedRow, Base):
    __tablename__ = "member_tiers"
    __table_args__ = (UniqueConstraint("member_id", "loyalty_program_id"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    loyalty_program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id"))
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"), default=None)
    source: Mapped[str] = mapped_column(String(10), default=AUTO)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TierHistory(OwnedRow, Base):
    __tablename__ = "tier_history"
    __table_args__ = (Index("ix_tier_history_org_created", "organization_id", "created_at"),)  # reports

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    loyalty_program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id"))
    from_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"), default=None)
    to_tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"), default=None)
    source: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(200), default="")
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    actor_kind: Mapped[str] = mapped_column(String(16), default="system")
    actor_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# The per-transaction memos of the ladder and of members' current tiers forget what a write of their rows changes.
memo_follows_rows(Tier, "tiers.ladder", lambda tier: tier.loyalty_program_id)
memo_follows_rows(MemberTier, "tiers.current", lambda state: (state.member_id, state.loyalty_program_id))


def tiers_of(session: Session, program_id: int) -> list[Tier]:
    """The programme's tiers, lowest first."""
    return list(session.scalars(select(Tier).where(Tier.loyalty_program_id == program_id)
                                .order_by(Tier.min_points, Tier.id)))


def create_tier(session: Session, program: LoyaltyProgram, *, name: str, min_points: int, actor: Actor,
                description: str = "", color: str = "") -> Tier:
    """Raises DuplicateValue for a name or threshold already used in the programme."""
    _check_threshold(session, program.id, min_points)
    tier = Tier(organization_id=program.organization_id, loyalty_program_id=program.id, name=name.strip(),
                min_points=min_points, description=description, color=color)
    add_unique(session, tier, DuplicateValue("A tier with this name already exists", field="name"))
    audit.record(session, actor, "tier.created", tier)
    return tier


def update_tier(session: Session, tier: Tier, *, actor: Actor, name: str | None = None,
                min_points: int | None = None, description: str | None = None, color: str | None = None) -> Tier:
    if min_points is not None and min_points != tier.min_points:
        _check_threshold(session, tier.loyalty_program_id, min_points, exclude=tier.id)
        tier.min_points = min_points
    if name is not None:
        if session.scalar(select(Tier.id).where(Tier.loyalty_program_id == tier.loyalty_program_id,
                                                Tier.name == name.strip(), Tier.id != tier.id)):
            raise DuplicateValue("A tier with this name already exists", field="name")
        tier.name = name.strip()
    assign_given(tier, description=description, color=color)
    session.flush()
    audit.record(session, actor, "tier.updated", tier)
    return tier


def _ladder(session: Session, program_id: int) -> list[Tier]:
    """`tiers_of`, read once per transaction for the tier evaluations of its postings (dropped when a tier of
    the programme is written, `memo_follows_rows` below, and at the transaction's end)."""
    known = session_memo(session, "tiers.ladder")
    if program_id not in known:
        known[program_id] = tiers_of(session, program_id)
    return known[program_id]


def get_tier(session: Session, organization_id: int, tier_id: int, program_id: int | None = None) -> Tier:
    return get_owned(session, Tier, tier_id, organization_id, what="Tier", field="loyaltyTierId",
                     loyalty_program_id=program_id)


def current_tier(session: Session, member_id: int, program_id: int) -> tuple[Tier | None, MemberTier | None]:
    """The member's tier now, and their tier row (None before their first tier). Remembered for the rest of
    the transaction until the tier changes (`known_tier`)."""
    read_at = utcnow()
    state = session.scalars(select(MemberTier).where(MemberTier.member_id == member_id,
                                                     MemberTier.loyalty_program_id == program_id)).first()
    tier = session.get(Tier, state.tier_id) if state is not None and state.tier_id is not None else None
    session_memo(session, "tiers.current")[member_id, program_id] = (tier, read_at)
    return tier, state


def note_read(session: Session, member_id: int, program_id: int, state: MemberTier | None, ladder: list[Tier],
              read_at: dt.datetime) -> Tier | None:
    """What a caller's statement read for `current_tier` (the member's tier row, `read_at`) and `_ladder` (the
    programme's tiers, lowest first), remembered as they would remember it; returns the member's tier."""
    tier = None
    if state is not None and state.tier_id is not None:
        tier = next((t for t in ladder if t.id == state.tier_id), None) or session.get(Tier, state.tier_id)
    session_memo(session, "tiers.current")[member_id, program_id] = (tier, read_at)
    session_memo(session, "tiers.ladder")[program_id] = ladder
    return tier


def known_tier(session: Session, member_id: int, program_id: int) -> Tier | None:
    """`current_tier`'s tier, with no query when this transaction read it and has changed no tier of the
    member since (a write of their MemberTier row forgets it, `memo_follows_rows` below; so does any rollback,
    savepoints included)."""
    known = session_memo(session, "tiers.current").get((member_id, program_id))
    return known[0] if known is not None else current_tier(session, member_id, program_id)[0]


def tier_at(session: Session, member_id: int, program_id: int, moment: dt.datetime) -> Tier | None:
    """The member's tier at `moment`: the tier the first change since then started from, else today's. No
    query for a moment after this transaction read the member's tier, with no change since (`known_tier`)."""
    known = session_memo(session, "tiers.current").get((member_id, program_id))
    if known is not None and moment.tzinfo is not None and moment >= known[1]:
        return known[0]
    change = session.scalars(select(TierHistory).where(
        TierHistory.member_id == member_id, TierHistory.loyalty_program_id == program_id,
        TierHistory.created_at > moment, TierHistory.created_at <= utcnow())
        .order_by(TierHistory.created_at, TierHistory.id)).first()
    if change is None:
        return current_tier(session, member_id, program_id)[0]
    return session.get(Tier, change.from_tier_id) if change.from_tier_id is not None else None


def tier_points(session: Session, member_id: int, program: LoyaltyProgram) -> int:
    from .ledger import Wallet

    balance = session.scalar(select(Wallet.balance).where(Wallet.member_id == member_id,
                                                          Wallet.ledger_account_id == program.tier_points_account_id))
    return int(balance or 0)


def progress(session: Session, member_id: int, program: LoyaltyProgram) -> dict:
    """Current tier, next tier and the tier points still missing, for wallets and cards."""
    points = tier_points(session, member_id, program)
    tier, state = current_tier(session, member_id, program.id)
    return {**progress_on(tiers_of(session, program.id), tier, points), "state": state}


def progress_on(ladder: list, tier, points: int) -> dict:
    """Tier progress from what the caller already read: the programme's tiers (lowest first), the member's
    tier (one of them, or None) and tier points. Tiers are `Tier`s or rows with their `min_points`."""
    next_tier = next((t for t in ladder if t.min_points > points and (tier is None or t.min_points > tier.min_points)),
                     None)
    return {"tier": tier, "tierPoints": points, "nextTier": next_tier,
            "pointsToNext": (next_tier.min_points - points) if next_tier else 0}


def evaluate(session: Session, member_id: int, program: LoyaltyProgram, *, actor: Actor | None = None) -> Tier | None:
    """Promote the member to the highest tier their tier points reach; never demote. A programme without
    tiers costs one query per transaction (the ladder is remembered), not two per posting of tier points."""
    ladder = _ladder(session, program.id)
    if not ladder:
        return None
    points = tier_points(session, member_id, program)
    reached = [t for t in ladder if t.min_points <= points]
    if not reached:
        return None
    target = reached[-1]
    state = _locked_state(session, member_id, program)
    current = session.get(Tier, state.tier_id) if state.tier_id else None
    if current is not None and current.min_points >= target.min_points:
        return current
    _change(session, state, target, source=AUTO, reason="tier points reached", expires_at=None,
            actor=actor or system_actor(program.organization_id))
    return target


def end_of_day(session: Session, organization_id: int, day: dt.date) -> dt.datetime:
    """The last second of `day` in the organisation's timezone, in UTC: a tier set until a day holds all of it
    where the organisation is."""
    zone = ZoneInfo(session.get(Organization, organization_id).timezone)
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=zone).astimezone(dt.timezone.utc)


def set_tier(session: Session, member_id: int, program: LoyaltyProgram, tier: Tier | None, *, actor: Actor,
             expires_at: dt.datetime | None = None, reason: str = "manual") -> MemberTier:
    """Set a tier by hand, optionally until `expires_at`."""
    if tier is not None and tier.loyalty_program_id != program.id:
        raise NotFound("Tier not found", field="loyaltyTierId")
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed("expiresAt must be in the future", field="expiresAt")
    state = _locked_state(session, member_id, program)
    _change(session, state, tier, source=MANUAL, reason=reason, expires_at=expires_at, actor=actor)
    audit.record(session, actor, "member.tier_set", state, memberId=member_id,
                 tierId=tier.id if tier else None)
    return state


def history(session: Session, member_id: int, program_id: int) -> list[TierHistory]:
    return list(session.scalars(select(TierHistory).where(TierHistory.member_id == member_id,
                                                          TierHistory.loyalty_program_id == program_id)
                                .order_by(TierHistory.id.desc())))


def _check_threshold(session: Session, program_id: int, min_points: int, exclude: int | None = None) -> None:
    if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 0:
        raise ValidationFailed("minPoints must be a whole number of 0 or more", field="minPoints")
    stmt = select(Tier.id).where(Tier.loyalty_program_id == program_id, Tier.min_points == min_points)
    if exclude is not None:
        stmt = stmt.where(Tier.id != exclude)
    if session.scalar(stmt):
        raise DuplicateValue("Another tier already starts at this number of points", field="minPoints")


def _locked_state(session: Session, member_id: int, program: LoyaltyProgram) -> MemberTier:
    """The member's tier row, locked for update so concurrent evaluations serialise."""
    stmt = (select(MemberTier).where(MemberTier.member_id == member_id,
                                     MemberTier.loyalty_program_id == program.id).with_for_update())
    state = session.scalars(stmt).first()
    if state is not None:
        return state
    try:
        with session.begin_nested():
            state = MemberTier(organization_id=program.organization_id, member_id=member_id,
                               loyalty_program_id=program.id)
            session.add(state)
    except IntegrityError:
        state = session.scalars(stmt).one()
    return state


def _change(session: Session, state: MemberTier, tier: Tier | None, *, source: str, reason: str,
            expires_at: dt.datetime | None, actor: Actor) -> None:
    previous = state.tier_id
    state.tier_id = tier.id if tier else None
    state.source = source
    state.expires_at = expires_at
    state.updated_at = utcnow()
    session.add(TierHistory(organization_id=state.organization_id, member_id=state.member_id,
                            loyalty_program_id=state.loyalty_program_id, from_tier_id=previous,
                            to_tier_id=state.tier_id, source=source, reason=reason, expires_at=expires_at,
                            actor_kind=actor.kind, actor_id=actor.id))
    outbox.emit(session, state.organization_id, "member-tier-set" if tier else "member-tier-removed",
                member_id=state.member_id, fromTierId=previous, toTierId=state.tier_id, source=source)
    session.flush()


@hooks.connect(hooks.after_posting)
def _promote_on_tier_points(session: Session, tx, target_wallet) -> None:
    if target_wallet.member_id is None:
        return
    program = program_for_tier_account(session, tx.ledger_account_id)
    if program is not None:
        evaluate(session, target_wallet.member_id, program)


def reevaluate_after_expiry(session: Session, state: MemberTier, program: LoyaltyProgram) -> None:
    """A tier set until a date has passed: fall back to the tier the member's tier points reach."""
    points = tier_points(session, state.member_id, program)
    reached = [t for t in tiers_of(session, program.id) if t.min_points <= points]
    target = reached[-1] if reached else None
    _change(session, state, target, source=AUTO, reason="tier expired", expires_at=None,
            actor=system_actor(program.organization_id, "tier-expiry"))
