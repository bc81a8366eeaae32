"""What members, staff and tills see of coupons. Read only: nothing here writes.

- `member_coupons`: the coupons a member holds, each with its state.
- `offers_for_member`: published books the member may see, with what a claim would say.
- `account_coupons_for_member` / `account_coupon_view`: the Convercus account coupons.
- `usages_query`: assignments and uses, for the console and reports.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.orm import Session

from ..base import utcnow
from ..errors import ValidationFailed
from ..members import Member
from ..pagination import Page, paginate, where_given, within
from ..tiers import MemberTier
from .books import json_list_contains
from .models import ASSIGN, ASSIGNED, PUBLISHED, REVERTED, USE, USED, AccountCoupon, CouponBook, CouponCode, CouponUsage
from .services import account_coupon_public_id, assignment_refusal

# States of a held coupon, as members and tills see it.
AVAILABLE, UPCOMING, EXPIRED, UNAVAILABLE = "available", "upcoming", "expired", "unavailable"


@dataclass
class MemberCoupon:
    assignment: CouponUsage
    book: CouponBook
    code: str | None
    state: str              # available | upcoming | used | expired | unavailable | reverted
    activated: bool | None  # None when the book is not activatable
    account_coupon_id: str

    @property
    def usable(self) -> bool:
        return self.state == AVAILABLE and self.activated is not False

    @property
    def current(self) -> bool:
        """Still to come or usable now; otherwise it belongs to the member's history (used, expired, withdrawn)."""
        return self.state in (AVAILABLE, UPCOMING)


@dataclass
class BookOffer:
    book: CouponBook
    assigned: int
    used: int
    refusal: Exception | None   # what claiming now would answer; None if it would succeed
    account_coupon_id: str

    @property
    def claimable(self) -> bool:
        return self.refusal is None


@dataclass
class AccountCouponView:
    """One Convercus account coupon: a member's relation to one coupon book."""

    account_coupon_id: str
    member_id: int
    book: CouponBook
    redeem_count: int
    assigned_count: int
    next_code: str | None
    activated: bool
    last_activation_date: dt.datetime | None


def coupon_state(assignment: CouponUsage, book: CouponBook, now: dt.datetime | None = None,
                 code: CouponCode | None = None) -> str:
    """The member's coupon as they see it; `code` its code, whose own switch and end count too."""
    now = now or utcnow()
    if assignment.reverted_at is not None or assignment.state == REVERTED:
        return REVERTED
    if assignment.state == USED:
        return USED
    if (assignment.expires_at is not None and assignment.expires_at <= now) or \
            (book.valid_to is not None and book.valid_to <= now) or \
            (code is not None and code.expires_at is not None and code.expires_at <= now):
        return EXPIRED
    if book.publishing_status != PUBLISHED or (code is not None and not code.active):
        return UNAVAILABLE
    if book.valid_from is not None and now < book.valid_from:
        return UPCOMING
    return AVAILABLE


def member_coupons(session: Session, member: Member, *, loyalty_program_id: int | None = None,
                   not_used_only: bool = False, book_id: int | None = None, tags: list[str] | None = None,
                   code: str | None = None, code_id: int | None = None, include_reverted: bool = False,
                   page: int = 0, limit: int = 10, now: dt.datetime | None = None) -> Page:
    """The member's coupons (assignments), newest first; items are MemberCoupon."""
    now = now or utcnow()
    stmt = (select(CouponUsage, CouponBook, CouponCode, AccountCoupon)
            .join(CouponBook, CouponBook.id == CouponUsage.book_id)
            .join(AccountCoupon, AccountCoupon.id == CouponUsage.account_coupon_id)
            .outerjoin(CouponCode, CouponCode.id == CouponUsage.code_id)
            .where(CouponUsage.member_id == member.id, CouponUsage.kind == ASSIGN))
    if loyalty_program_id is not None:
        stmt = stmt.where(CouponBook.loyalty_program_id == loyalty_program_id)
    if not_used_only:
        stmt = stmt.where(CouponUsage.state == ASSIGNED)
    elif not include_reverted:
        stmt = stmt.where(CouponUsage.state != REVERTED)
    if book_id is not None:
        stmt = stmt.where(CouponUsage.book_id == book_id)
    if tags:
        stmt = stmt.where(or_(*[json_list_contains(CouponBook.tags, t) for t in tags]))
    if code:
        stmt = stmt.where(CouponCode.code == code.strip())
    if code_id is not None:
        stmt = stmt.where(CouponUsage.code_id == code_id)
    result = paginate(session, stmt, page=page, limit=limit, order=CouponUsage.id.desc(), scalars=False)
    result.items = [MemberCoupon(assignment=usage, book=book, code=code_row.code if code_row else None,
                                 state=coupon_state(usage, book, now, code_row),
                                 activated=account.activated if book.activatable else None,
                                 account_coupon_id=account.public_id)
                    for usage, book, code_row, account in result.items]
    return result


def member_coupon_counts(session: Session, member: Member, *, loyalty_program_id: int | None = None,
                         since: dt.datetime | None = None, until: dt.datetime | None = None) -> dict[str, int]:
    """amountAssigned and amountUsed: the member's live assignments and uses in the period."""
    counts = {}
    for kind, name in ((ASSIGN, "amountAssigned"), (USE, "amountUsed")):
        stmt = (select(CouponUsage.id).join(CouponBook, CouponBook.id == CouponUsage.book_id)
                .where(CouponUsage.member_id == member.id, CouponUsage.kind == kind,
                       CouponUsage.reverted_at.is_(None)))
        stmt = within(where_given(stmt, (CouponBook.loyalty_program_id, loyalty_program_id)),
                      CouponUsage.created_at, since, until)
        counts[name] = len(session.scalars(stmt).all())
    return counts


def offers_for_member(session: Session, member: Member, *, loyalty_program_id: int | None = None,
                      tags: list[str] | None = None, book_id: int | None = None, out_of_stock: bool = True,
                      page: int = 0, limit: int = 10, now: dt.datetime | None = None) -> Page:
    """Published, current books the member's tier allows, best ranked first; items are BookOffer.

    With out_of_stock=False, books whose global limit or code pool is exhausted are left out.
    """
    now = now or utcnow()
    stmt = select(CouponBook).where(CouponBook.organization_id == member.organization_id,
                                    CouponBook.publishing_status == PUBLISHED,
                                    or_(CouponBook.valid_to.is_(None), CouponBook.valid_to > now))
    stmt = where_given(stmt, (CouponBook.loyalty_program_id, loyalty_program_id), (CouponBook.id, book_id))
    if tags:
        stmt = stmt.where(or_(*[json_list_contains(CouponBook.tags, t) for t in tags]))
    tier_ids = [str(t) for t in session.scalars(select(MemberTier.tier_id).where(
        MemberTier.member_id == member.id, MemberTier.tier_id.is_not(None),
        or_(MemberTier.expires_at.is_(None), MemberTier.expires_at > now)))]
    stmt = stmt.where(or_(_empty_list(CouponBook.tiers), *[json_list_contains(CouponBook.tiers, t) for t in tier_ids]))
    if not out_of_stock:
        stmt = stmt.where(or_(CouponBook.max_coupon_count.is_(None),
                              CouponBook.assigned_count < CouponBook.max_coupon_count))
    result = paginate(session, stmt.order_by(CouponBook.ranking_index.desc(), CouponBook.id), page=page,
                      limit=limit)
    books = result.items
    accounts = {a.book_id: a for a in session.scalars(select(AccountCoupon).where(
        AccountCoupon.member_id == member.id, AccountCoupon.book_id.in_([b.id for b in books])))} if books else {}
    result.items = []
    for book in books:
        account = accounts.get(book.id)
        result.items.append(BookOffer(
            book=book, assigned=account.assigned_count if account else 0,
            used=account.used_count if account else 0, refusal=assignment_refusal(session, member, book, now),
            account_coupon_id=account.public_id if account else account_coupon_public_id(
                member.organization_id, member.id, book.id)))
    return result


def account_coupons_for_member(session: Session, member: Member, *,
                               now: dt.datetime | None = None) -> list[AccountCouponView]:
    """The member's account coupons a till can act on: published, not ended, held at least once."""
    now = now or utcnow()
    accounts = session.scalars(
        select(AccountCoupon).join(CouponBook, CouponBook.id == AccountCoupon.book_id)
        .where(AccountCoupon.member_id == member.id, AccountCoupon.assigned_count > 0,
               CouponBook.publishing_status == PUBLISHED,
               or_(CouponBook.valid_to.is_(None), CouponBook.valid_to > now))
        .order_by(CouponBook.ranking_index.desc(), CouponBook.id)).all()
    return [account_coupon_view(session, account, now=now) for account in accounts]


def account_coupon_view(session: Session, account: AccountCoupon, *,
                        now: dt.datetime | None = None) -> AccountCouponView:
    now = now or utcnow()
    book = session.get(CouponBook, account.book_id)
    next_code = session.scalar(
        select(CouponCode.code).join(CouponUsage, CouponUsage.code_id == CouponCode.id)
        .where(CouponUsage.account_coupon_id == account.id, CouponUsage.kind == ASSIGN,
               CouponUsage.state == ASSIGNED, or_(CouponUsage.expires_at.is_(None), CouponUsage.expires_at > now))
        .order_by(CouponUsage.expires_at.is_(None), CouponUsage.expires_at, CouponUsage.id).limit(1))
    return AccountCouponView(account_coupon_id=account.public_id, member_id=account.member_id, book=book,
                             redeem_count=account.used_count, assigned_count=account.assigned_count,
                             next_code=next_code, activated=account.activated,
                             last_activation_date=account.last_activation_date)


def usages_query(organization_id: int, *, book_id: int | None = None, member_id: int | None = None,
                 kind: str | None = None) -> Select:
    """Assignments and uses for listing (newest first when paginated with `order`)."""
    if kind is not None and kind not in (ASSIGN, USE):
        raise ValidationFailed("kind must be assign or use", field="kind")
    return where_given(select(CouponUsage).where(CouponUsage.organization_id == organization_id),
                       (CouponUsage.book_id, book_id), (CouponUsage.member_id, member_id), (CouponUsage.kind, kind))


def _empty_list(column):
    return func.coalesce(cast(column, String), "[]") == "[]"
