"""Coupon books: creating, changing, finding, and their texts.

Invariants: a book's type never changes; a DISCOUNT has a discountType and a
positive discountAmount (a percentage at most 100); an EXTRAPOINT book gives a
whole positive number of points; a MULTIPLIER multiplies by more than 1;
validFromDate precedes validToDate; limits are positive or unlimited (None);
archived is final. Only published books can be assigned or used.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.orm import Session

from .. import audit
from ..actors import Actor
from ..base import fits_id, get_owned, utcnow
from ..checks import reject_unknown
from ..errors import ValidationFailed
from ..organizations import default_program, get_organization, get_program
from ..tiers import Tier
from . import conditions
from .errors import CouponBookArchived
from .models import (ARCHIVED, DISCOUNT, DISCOUNT_TYPES, EXTRAPOINT, MULTIPLIER, PERCENTAGE, PUBLISHED,
                     PUBLISHING_STATUSES, REWARD, TEXT_FIELDS, TYPES, CouponBook, CouponCode)

# Fields a caller may set; `type` only at creation.
SETTABLE = ("name", "publishing_status", "discount_type", "discount_amount", "valid_from", "valid_to",
            "max_assigned_per_member", "max_assigned_per_coupon", "max_coupon_count",
            "assignment_required_points", "usage_required_points", "activatable", "tiers", "audience_keys",
            "tags", "external_id", "external_reference", "ranking_index", "default_locale", "i18n",
            "picture_url", "detail_picture_url", "condition", "custom_attributes", "loyalty_program_id")
LIMIT_FIELDS = {"max_assigned_per_member": "maxAssignedPerMember", "max_assigned_per_coupon": "maxAssignedPerCoupon",
                "max_coupon_count": "maxCouponCount"}
POINT_FIELDS = {"assignment_required_points": "assignmentRequiredPoints",
                "usage_required_points": "usageRequiredPoints"}


def create_book(session: Session, organization_id: int, *, actor: Actor, name: str, type: str,
                **fields: Any) -> CouponBook:
    """Create a coupon book (draft unless publishingStatus says otherwise). Raises ValidationFailed."""
    if type not in TYPES:
        raise ValidationFailed(f"type must be one of {', '.join(TYPES)}", field="type")
    reject_unknown(fields, SETTABLE)
    fields.setdefault("max_assigned_per_coupon", 1)
    org = get_organization(session, organization_id)
    program_id = fields.pop("loyalty_program_id", None)
    program = (get_program(session, organization_id, program_id) if program_id is not None
               else default_program(session, organization_id))
    book = CouponBook(organization_id=organization_id, loyalty_program_id=program.id, name=name, type=type,
                      default_locale=org.default_locale)
    _apply(session, book, {"name": name, **fields})
    session.add(book)
    session.flush()
    audit.record(session, actor, "coupon_book.created", book, type=type, publishingStatus=book.publishing_status)
    return book


def update_book(session: Session, book: CouponBook, *, actor: Actor, **fields: Any) -> CouponBook:
    """Change the given fields. Raises ValidationFailed, CouponBookArchived (archived books are final)."""
    if "type" in fields:
        raise ValidationFailed("type cannot be changed; create a new book", field="type")
    reject_unknown(fields, SETTABLE)
    if book.publishing_status == ARCHIVED and fields:
        raise CouponBookArchived("An archived coupon book cannot be changed", field="publishingStatus")
    if "loyalty_program_id" in fields:
        program_id = fields["loyalty_program_id"]
        if program_id is None:
            raise ValidationFailed("loyaltyProgramId cannot be empty", field="loyaltyProgramId")
        get_program(session, book.organization_id, program_id)
    _apply(session, book, fields)
    return audit.record_changed(session, actor, "coupon_book.updated", book, fields=sorted(fields))


def set_publishing_status(session: Session, book: CouponBook, status: str, *, actor: Actor) -> CouponBook:
    """Publish, disable, archive or return a book to draft."""
    return update_book(session, book, actor=actor, publishing_status=status)


def get_book(session: Session, organization_id: int, book_id: int, *,
             loyalty_program_id: int | None = None) -> CouponBook:
    """The book, and when `loyalty_program_id` is given only a book of that programme."""
    return get_owned(session, CouponBook, book_id, organization_id, what="Coupon book", field="couponBookId",
                     loyalty_program_id=loyalty_program_id)


def books_query(organization_id: int, *, status: str | None = None, tags: list[str] | None = None,
                search: str | None = None, loyalty_program_id: int | None = None,
                audience: str | None = None) -> Select:
    """Books of the organisation, filtered; tags match when the book has any of them."""
    stmt = select(CouponBook).where(CouponBook.organization_id == organization_id)
    if status:
        if status not in PUBLISHING_STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(PUBLISHING_STATUSES)}", field="status")
        stmt = stmt.where(CouponBook.publishing_status == status)
    if loyalty_program_id is not None:
        stmt = stmt.where(CouponBook.loyalty_program_id == loyalty_program_id)
    if search:
        like = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(func.lower(CouponBook.name).like(like, escape="\\"),
                              func.lower(CouponBook.external_reference).like(like, escape="\\")))
    if tags:
        stmt = stmt.where(or_(*[json_list_contains(CouponBook.tags, tag) for tag in tags]))
    if audience:
        stmt = stmt.where(json_list_contains(CouponBook.audience_keys, audience))
    return stmt


def json_list_contains(column, value: str):
    """`value` is an element of a JSON list column, on SQLite and PostgreSQL alike.

    Matches the JSON text of the element ("tag" with its quotes), so "tag" does
    not match "tags"; LIKE wildcards in the value are escaped.
    """
    needle = json.dumps(str(value)).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(column, String).like(f"%{needle}%", escape="\\")


def texts(book: CouponBook, locale: str | None = None) -> dict[str, str]:
    """Title, subtitle, description and booking text in `locale`, else the book's default locale."""
    i18n = book.i18n or {}
    chosen = i18n.get(locale or "") or i18n.get(book.default_locale) or next(iter(i18n.values()), {})
    result = {name: chosen.get(name, "") or "" for name in TEXT_FIELDS}
    result["title"] = result["title"] or book.name
    return result


def coupon_value(book: CouponBook) -> Decimal | int:
    """Convercus couponValue: percent or amount off, points a reward costs, extra points, or the factor."""
    if book.type == REWARD:
        return book.usage_required_points
    if book.discount_amount is None:
        return 0
    value = Decimal(book.discount_amount)
    return int(value) if value == value.to_integral_value() else value


def used_value_in_points(book: CouponBook, *, spend: Decimal | None, points_paid: int,
                         point_value: Decimal | None) -> int | None:
    """What a used coupon gave the member, in points: the debt when the purchase that awarded it is returned.

    EXTRAPOINT: its points. DISCOUNT and REWARD: their money value (a fixed discountAmount, or a percentage of
    `spend`, what the purchase the coupon was used on cost after its discounts: its discountedTotal, else its
    total) divided by the programme's `point_value`, rounded down (a debt is never rounded against the member),
    less the points the member paid to use it, at least 0.
    None when it has no value in points: a MULTIPLIER (its bonus is on another order's points), a money coupon
    without a rate, or a percentage whose purchase is unknown; the caller then only records that it was kept.
    """
    if book.type == EXTRAPOINT:
        return int(book.discount_amount or 0)
    if book.type not in (DISCOUNT, REWARD) or not book.discount_amount or not point_value:
        return None
    amount = Decimal(book.discount_amount)
    if book.discount_type == PERCENTAGE:
        if spend is None:
            return None
        amount = spend * amount / 100
    points = int((amount / point_value).to_integral_value(rounding=ROUND_FLOOR))
    return max(points - points_paid, 0)


def is_published(book: CouponBook) -> bool:
    return book.publishing_status == PUBLISHED


def usable_code(now: dt.datetime):
    """The codes that may be handed out or used at `now`: active and not past their own end."""
    return CouponCode.active.is_(True) & (CouponCode.expires_at.is_(None) | (CouponCode.expires_at > now))


def free_code_count(session: Session, book: CouponBook) -> int:
    """Codes that can still be handed out."""
    stmt = select(func.count()).select_from(CouponCode).where(CouponCode.book_id == book.id, usable_code(utcnow()))
    if book.max_assigned_per_coupon is not None:
        stmt = stmt.where(CouponCode.assigned_count < book.max_assigned_per_coupon)
    return session.scalar(stmt) or 0


def book_counts(session: Session, book: CouponBook) -> dict[str, int | None]:
    """Usage counts for the console: assigned, used, codes, free codes, what the global limit leaves."""
    remaining = None if book.max_coupon_count is None else max(0, book.max_coupon_count - book.assigned_count)
    return {"assigned": book.assigned_count, "used": book.used_count, "codes": book.code_count,
            "freeCodes": free_code_count(session, book) if book.code_count else 0, "remaining": remaining}


# --- validation ---------------------------------------------------------------

def _apply(session: Session, book: CouponBook, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name == "name":
            value = (value or "").strip()
            if not value:
                raise ValidationFailed("name must not be empty", field="name")
        elif name == "publishing_status":
            if value not in PUBLISHING_STATUSES:
                raise ValidationFailed(f"publishingStatus must be one of {', '.join(PUBLISHING_STATUSES)}",
                                       field="publishingStatus")
        elif name == "discount_type":
            if value is not None and value not in DISCOUNT_TYPES:
                raise ValidationFailed("discountType must be percentage or fixed", field="discountType")
        elif name == "discount_amount":
            value = None if value is None else Decimal(str(value))
            if value is not None and (not value.is_finite() or value < 0 or value >= Decimal("1e12")):
                raise ValidationFailed("discountAmount must be a positive number", field="discountAmount")
        elif name in LIMIT_FIELDS:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValidationFailed(f"{LIMIT_FIELDS[name]} must be 1 or more, or null for no limit",
                                       field=LIMIT_FIELDS[name])
        elif name in POINT_FIELDS:
            value = value or 0
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationFailed(f"{POINT_FIELDS[name]} must be a whole number of points, 0 or more",
                                       field=POINT_FIELDS[name])
        elif name in ("valid_from", "valid_to"):
            if value is not None and (not isinstance(value, dt.datetime) or value.tzinfo is None):
                field = "validFromDate" if name == "valid_from" else "validToDate"
                raise ValidationFailed("Give a date-time with a timezone", field=field)
        elif name == "i18n":
            value = _clean_i18n(value or {})
        elif name == "tiers":
            value = _clean_tiers(session, book, value or [])
        elif name in ("tags", "audience_keys"):
            value = [str(v) for v in (value or [])]
        elif name == "condition":
            value = conditions.clean(value)
        elif name == "custom_attributes":
            value = dict(value or {})
        elif name == "activatable":
            value = bool(value)
        elif name == "ranking_index":
            value = value or 0
        setattr(book, name, value)
    _check_consistency(book)


def _check_consistency(book: CouponBook) -> None:
    if book.valid_from and book.valid_to and book.valid_from >= book.valid_to:
        raise ValidationFailed("validToDate must be after validFromDate", field="validToDate")
    amount = book.discount_amount
    if book.type == DISCOUNT:
        if book.discount_type is None:
            raise ValidationFailed("A DISCOUNT needs discountType percentage or fixed", field="discountType")
        if amount is None or amount <= 0:
            raise ValidationFailed("A DISCOUNT needs a positive discountAmount", field="discountAmount")
        if book.discount_type == PERCENTAGE and amount > 100:
            raise ValidationFailed("A percentage discount is at most 100", field="discountAmount")
    elif book.type == EXTRAPOINT:
        if amount is None or amount <= 0 or amount != amount.to_integral_value():
            raise ValidationFailed("An EXTRAPOINT coupon gives a whole positive number of points (discountAmount)",
                                   field="discountAmount")
    elif book.type == MULTIPLIER:
        if amount is None or amount <= 1:
            raise ValidationFailed("A MULTIPLIER needs a factor above 1 (discountAmount)", field="discountAmount")


def _clean_i18n(value: dict[str, Any]) -> dict[str, dict[str, str]]:
    cleaned: dict[str, dict[str, str]] = {}
    for locale, entry in value.items():
        if not isinstance(locale, str) or not 2 <= len(locale) <= 10:
            raise ValidationFailed("Locales are codes such as en or de-AT", field="i18n")
        if not isinstance(entry, dict):
            raise ValidationFailed("Each locale holds title, subtitle, description, bookingText", field=f"i18n.{locale}")
        unknown = set(entry) - set(TEXT_FIELDS)
        if unknown:
            raise ValidationFailed(f"Unknown text {sorted(unknown)[0]}", field=f"i18n.{locale}.{sorted(unknown)[0]}")
        cleaned[locale] = {name: str(entry.get(name) or "") for name in TEXT_FIELDS if entry.get(name)}
    return cleaned


def _clean_tiers(session: Session, book: CouponBook, value: list[Any]) -> list[str]:
    """Tier ids of the book's programme, kept as strings (the seed's type)."""
    cleaned = []
    for index, raw in enumerate(value):
        text = str(raw).strip()
        tier = session.get(Tier, int(text)) if text.isdigit() and fits_id(int(text)) else None
        if tier is None or tier.organization_id != book.organization_id:
            raise ValidationFailed("No such tier in this organisation", field=f"tiers[{index}]")
        cleaned.append(str(tier.id))
    return cleaned
