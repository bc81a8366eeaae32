"""Organisations and their loyalty programmes.

Invariants: every organisation has exactly one default loyalty programme; every
programme has a ledger with a main points account and a tier-points account,
both in the programme's organisation. An organisation's `timezone` is an IANA
name (reports count its days, weeks and months there).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Boolean, ForeignKey, Numeric, Select, String, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base, IndexedOwnedRow, assign_given, get_owned, session_memo, utcnow
from .errors import NotFound, ValidationFailed


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    default_locale: Mapped[str] = mapped_column(String(10), default="en")
    locales: Mapped[list[str]] = mapped_column(default=lambda: ["en", "de"])
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LoyaltyProgram(IndexedOwnedRow, Base):
    __tablename__ = "loyalty_programs"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"))
    points_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    tier_points_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    # What one point pays at the till, in money (orders.py converts pointsRedeemed with it); None: no rate.
    point_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 4), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def create_organization(session: Session, name: str, *, default_locale: str = "en", locales: list[str] | None = None,
                        timezone: str = "UTC") -> tuple[Organization, LoyaltyProgram]:
    """Create an organisation with its default programme, ledger and accounts. Raises ValidationFailed
    for an unknown timezone."""
    org = Organization(name=name, default_locale=default_locale, locales=locales or ["en", "de"],
                       timezone=check_timezone(timezone))
    session.add(org)
    session.flush()
    program = create_loyalty_program(session, org, name=f"{name} Rewards", is_default=True)
    return org, program


def create_loyalty_program(session: Session, org: Organization, *, name: str, description: str = "",
                           is_default: bool = False, expires_in_months: int | None = None) -> LoyaltyProgram:
    """Create a programme with its own ledger, points account and tier-points account."""
    from . import ledger

    book = ledger.create_ledger(session, org.id, name=f"{name} Ledger")
    points = ledger.create_account(session, book, name="Points", is_default=True,
                                   expires_in_months=expires_in_months)
    tier_points = ledger.create_account(session, book, name="Tier points")
    program = LoyaltyProgram(organization_id=org.id, name=name, description=description, is_default=is_default,
                             ledger_id=book.id, points_account_id=points.id, tier_points_account_id=tier_points.id)
    session.add(program)
    session.flush()
    return program


def check_timezone(name: str) -> str:
    """The IANA timezone name, if it is one (Europe/Berlin); raises ValidationFailed otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationFailed("Unknown timezone; use an IANA name such as Europe/Berlin", field="timezone") from None
    return name


def get_organization(session: Session, organization_id: int) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("Organization not found")
    return org


def get_program(session: Session, organization_id: int, program_id: int) -> LoyaltyProgram:
    return get_owned(session, LoyaltyProgram, program_id, organization_id, what="Loyalty program",
                     field="loyaltyProgramId")


def default_program_select(*columns, organization_id=None) -> Select:
    """SELECT `columns` (the programme by default) of the organisation's default programme: the one marked
    default, else the oldest. One row at most; join the programme's accounts onto it, or use it as a subquery.
    Without `organization_id` it takes the bound parameter `organization_id` (for statements built once)."""
    program = LoyaltyProgram.__table__
    organization = bindparam("organization_id") if organization_id is None else organization_id
    return (select(*columns or (LoyaltyProgram,)).where(program.c.organization_id == organization)
            .order_by(program.c.is_default.desc(), program.c.id).limit(1))


def default_program(session: Session, organization_id: int) -> LoyaltyProgram:
    program = session.scalars(default_program_select(organization_id=organization_id)).first()
    if program is None:
        raise NotFound("Organization has no loyalty program")
    note_program_accounts(session, program)
    return program


def program_for_tier_account(session: Session, account_id: int) -> LoyaltyProgram | None:
    """The programme whose tier points this account holds, if any (looked up once per session)."""
    known = session_memo(session, "programs.by_tier_account")
    if account_id not in known:
        known[account_id] = session.scalars(
            select(LoyaltyProgram).where(LoyaltyProgram.tier_points_account_id == account_id)).first()
    return known[account_id]


def note_tier_programs(session: Session, programs: dict[int, LoyaltyProgram | None]) -> None:
    """Remember, as `program_for_tier_account` would find it, the programme whose tier points each account holds
    (None: no programme's), read with the accounts (a ledger batch)."""
    known = session_memo(session, "programs.by_tier_account")
    for account_id, program in programs.items():
        known.setdefault(account_id, program)


def note_program_accounts(session: Session, program: LoyaltyProgram) -> None:
    """Remember which of the programme's accounts counts for tiers, so that posting to either needs no
    query to know. A programme creates its own two accounts, so its points account is no one's tier account."""
    known = session_memo(session, "programs.by_tier_account")
    known.setdefault(program.tier_points_account_id, program)
    known.setdefault(program.points_account_id, None)


def update_program(session: Session, organization_id: int, program_id: int, *, actor, name: str | None = None,
                   description: str | None = None, point_value: Decimal | None = None) -> LoyaltyProgram:
    from . import audit

    program = get_program(session, organization_id, program_id)
    if point_value is not None and point_value <= 0:
        raise ValidationFailed("pointValue must be more than 0", field="pointValue")
    assign_given(program, name=name, description=description, point_value=point_value)
    session.flush()
    audit.record(session, actor, "loyalty_program.updated", program)
    return program
