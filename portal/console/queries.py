"""Read-only queries behind console pages. Each takes the organisation id (or
objects already checked against it) and filters by it; nothing here writes."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..domain import custom_events, members
from ..domain.audiences import Audience
from ..domain.audit import AuditEntry
from ..domain.base import fits_id
from ..domain.errors import NotFound
from ..domain.ledger import LedgerAccount, Wallet
from ..domain.members import CARDCODE, Identifier, Member
from ..domain.organizations import LoyaltyProgram
from ..domain.staff import ApiKey, StaffUser
from ..domain.tiers import MemberTier, Tier, tiers_of


@dataclass
class TierShare:
    name: str
    color: str
    count: int


def member_count(session: Session, organization_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Member).where(
        Member.organization_id == organization_id, Member.erased_at.is_(None))) or 0


def tier_distribution(session: Session, program: LoyaltyProgram, total_members: int) -> list[TierShare]:
    """Members per tier of the programme, lowest tier first, then those without a tier."""
    counts = dict(session.execute(
        select(MemberTier.tier_id, func.count()).join(Member, Member.id == MemberTier.member_id)
        .where(MemberTier.loyalty_program_id == program.id, MemberTier.tier_id.is_not(None),
               Member.erased_at.is_(None))
        .group_by(MemberTier.tier_id)).all())
    shares = [TierShare(t.name, t.color, int(counts.get(t.id, 0))) for t in tiers_of(session, program.id)]
    shares.append(TierShare("No tier", "", max(0, total_members - sum(s.count for s in shares))))
    return shares


def card_codes(session: Session, member_ids: list[int]) -> dict[int, str]:
    if not member_ids:
        return {}
    rows = session.execute(select(Identifier.member_id, Identifier.code)
                           .where(Identifier.member_id.in_(member_ids), Identifier.type == CARDCODE)
                           .order_by(Identifier.id.desc()))
    return {member_id: code for member_id, code in rows}  # the first card code wins (ids descending)


def wallet_balances(session: Session, account_id: int, member_ids: list[int]) -> dict[int, int]:
    if not member_ids:
        return {}
    return dict(session.execute(select(Wallet.member_id, Wallet.balance).where(
        Wallet.ledger_account_id == account_id, Wallet.member_id.in_(member_ids))).all())


def tier_names(session: Session, program_id: int) -> dict[int, Tier]:
    return {t.id: t for t in tiers_of(session, program_id)}


def staff_users(organization_id: int) -> Select:
    return select(StaffUser).where(StaffUser.organization_id == organization_id)


def api_keys(organization_id: int) -> Select:
    return select(ApiKey).where(ApiKey.organization_id == organization_id)


def audiences(organization_id: int) -> Select:
    """The organisation's audiences by name (the list page, and the audience choices of a grant or campaign)."""
    return select(Audience).where(Audience.organization_id == organization_id).order_by(Audience.name, Audience.id)


def audit_entries(organization_id: int) -> Select:
    return select(AuditEntry).where(AuditEntry.organization_id == organization_id)


def staff_labels(session: Session, organization_id: int, staff_ids: list[int]) -> dict[int, str]:
    """Staff user id -> email, for 'who did it' columns."""
    ids = sorted({i for i in staff_ids if i is not None})
    if not ids:
        return {}
    return dict(session.execute(select(StaffUser.id, StaffUser.email).where(
        StaffUser.organization_id == organization_id, StaffUser.id.in_(ids))).all())


def members_by_id(session: Session, organization_id: int, member_ids: list[int]) -> dict[int, Member]:
    """Member id -> member, for rows that name and link their member."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    return {m.id: m for m in session.scalars(select(Member).where(Member.organization_id == organization_id,
                                                                  Member.id.in_(ids)))}


def find_member(session: Session, organization_id: int, text: str) -> Member:
    """A member of the organisation by member id or card code (digits may be either); NotFound otherwise."""
    if text.isdigit() and fits_id(int(text)):
        try:
            return members.get_member(session, organization_id, int(text))
        except NotFound:
            pass  # digits may be a card code too
    return members.lookup(session, organization_id, CARDCODE, text)


def engagement_choices(session: Session, organization_id: int) -> tuple[list, list]:
    """What a mission or a referral programme may use: (custom event types, points accounts)."""
    custom = list(session.scalars(custom_events.list_query(organization_id).order_by(
        custom_events.EventType.name)))
    accounts = list(session.scalars(select(LedgerAccount).where(
        LedgerAccount.organization_id == organization_id, LedgerAccount.is_currency.is_(False),
        LedgerAccount.active.is_(True)).order_by(LedgerAccount.id)))
    return custom, accounts
