"""Time-based work, run by `flask --app app worker`: expiry, tiers, birthdays, till reservations, the outbox.

Each job claims its rows with FOR UPDATE SKIP LOCKED (ignored on SQLite, where
write transactions are serialised anyway), so several workers can run against
one PostgreSQL database without doing anything twice.

Invariants: a birthday is rewarded at most once per member and year (unique
row); an outbox event is marked processed once.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, UniqueConstraint, extract, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import earning, expiry, holds, tiers
from .actors import system_actor
from .base import Base, utcnow
from .outbox import OutboxEvent
from .members import Member
from .organizations import LoyaltyProgram


class BirthdayReward(Base):
    """That a member's birthday was rewarded in a year: the unique (member, year) row lets the birthday job reward
    once a year, however many workers run it."""

    __tablename__ = "birthday_rewards"
    __table_args__ = (UniqueConstraint("member_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    year: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def expire_points(session: Session, now: dt.datetime | None = None) -> int:
    return expiry.expire_due(session, now=now)


def expire_tiers(session: Session, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Tiers set by hand until a date fall back to what the member's tier points earn."""
    now = now or utcnow()
    states = list(session.scalars(select(tiers.MemberTier).where(tiers.MemberTier.expires_at.is_not(None),
                                                                 tiers.MemberTier.expires_at <= now)
                                  .limit(batch).with_for_update(skip_locked=True)))
    for state in states:
        program = session.get(LoyaltyProgram, state.loyalty_program_id)
        tiers.reevaluate_after_expiry(session, state, program)
    return len(states)


def reward_birthdays(session: Session, today: dt.date | None = None, batch: int = 1000) -> int:
    """Dispatch `member-birthday` once a year for members born on this day (29 Feb on 28 Feb otherwise)."""
    today = today or utcnow().date()
    days = [today.day]
    if today.month == 2 and today.day == 28 and not _leap(today.year):
        days.append(29)
    candidates = list(session.scalars(
        select(Member).where(extract("month", Member.birth_date) == today.month,
                             extract("day", Member.birth_date).in_(days), Member.erased_at.is_(None),
                             ~select(BirthdayReward.id).where(BirthdayReward.member_id == Member.id,
                                                              BirthdayReward.year == today.year).exists())
        .limit(batch)))
    rewarded = 0
    for member in candidates:
        try:
            with session.begin_nested():
                session.add(BirthdayReward(member_id=member.id, year=today.year))
        except IntegrityError:  # another worker got there first
            continue
        earning.dispatch(session, earning.LoyaltyEvent(organization_id=member.organization_id, member=member,
                                                     event_type=earning.BIRTHDAY, payload={"year": today.year}),
                        actor=system_actor(member.organization_id, "birthday"))
        rewarded += 1
    return rewarded


def release_expired_holds(session: Session, now: dt.datetime | None = None) -> int:
    """Points reserved at a till and neither captured nor released by their expiry go back to the member."""
    return holds.release_expired(session, now=now)


def drain_outbox(session: Session, batch: int = 500) -> int:
    """Mark pending outbox events processed (deliveries hook in here)."""
    rows = list(session.scalars(select(OutboxEvent).where(OutboxEvent.processed_at.is_(None))
                                .order_by(OutboxEvent.id).limit(batch).with_for_update(skip_locked=True)))
    for event in rows:
        for deliver in outbox_consumers:
            deliver(session, event)
        event.processed_at = utcnow()
    session.flush()
    return len(rows)


# fn(session, OutboxEvent): webhooks and other consumers register here.
outbox_consumers: list = []

JOBS = (("expire_points", expire_points), ("expire_tiers", expire_tiers), ("birthdays", reward_birthdays),
        ("release_holds", release_expired_holds), ("outbox", drain_outbox))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
