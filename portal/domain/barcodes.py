"""Barcodes (Coniq): the printable link between a member and an offer.

An offer is a coupon book or a loyalty programme (`offer_type`). Invariants:
- `barcode_number` is unique across all organisations (the image URL and a
  till scan carry only the number): 13 digits, EAN-13 valid, starting with 2
  (GS1's prefix for in-store numbers, so never a real product's EAN); the 11
  digits after the 2 are random.
- A batch is all or nothing and holds at most MAX_BATCH barcodes.
- `expiry_date` comes from the offer when the barcode is made (a coupon book's
  validToDate); `active` is false while an activatable coupon book is not
  activated by the member.
- Images are a pure function of the number (`render_svg`, `render_png`): they
  read no data, so serving them reveals nothing about which numbers exist.
"""
from __future__ import annotations

import datetime as dt
import io
import secrets
from dataclasses import dataclass

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit
from .actors import Actor
from .base import Base, OwnedRow, fits_id, utcnow
from .errors import NotFound, NoUnusedValue, ValidationFailed
from .members import Member, get_member
from .pagination import where_given

CHANNELS = ("PAPER", "MAIL", "SMS", "MOBILE", "ECOMMERCE")
COUPON_BOOK, LOYALTY_PROGRAM = "COUPON_BOOK", "LOYALTY_PROGRAM"
OFFER_TYPES = (COUPON_BOOK, LOYALTY_PROGRAM)
MAX_BATCH = 200
NUMBER_PREFIX = "2"
CODE128, EAN13 = "code128", "ean13"
SYMBOLOGIES = (CODE128, EAN13)


class Barcode(OwnedRow, Base):
    __tablename__ = "barcodes"
    __table_args__ = (Index("ix_barcodes_org_member", "organization_id", "member_id"),
                      Index("ix_barcodes_org_offer", "organization_id", "offer_type", "offer_id"))

    barcode_number: Mapped[str] = mapped_column(String(20), unique=True)
    offer_type: Mapped[str] = mapped_column(String(20))
    offer_id: Mapped[int]
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    channel: Mapped[str] = mapped_column(String(10))
    tracking_code: Mapped[str | None] = mapped_column(String(100), index=True, default=None)
    expiry_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    active_flag: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass
class BarcodeRequest:
    """One barcode asked for, with the API's names: `customer_id` is the member's id, `offer_id` the coupon book's or
    the loyalty programme's (`offer_type`), `tracking_code` the caller's own label for finding it again."""

    offer_id: int
    customer_id: int
    channel: str
    tracking_code: str | None = None
    offer_type: str = COUPON_BOOK


@dataclass
class Offer:
    type: str
    id: int
    name: str
    expiry_date: dt.date | None
    activatable: bool


# --- numbers -------------------------------------------------------------------------

def ean13_check_digit(twelve: str) -> str:
    """GS1 check digit: weights 1 and 3 from the left."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(twelve))
    return str((10 - total % 10) % 10)


def is_ean13(number: str) -> bool:
    return len(number) == 13 and number.isdigit() and ean13_check_digit(number[:12]) == number[12]


def new_number() -> str:
    body = NUMBER_PREFIX + "".join(str(secrets.randbelow(10)) for _ in range(11))
    return body + ean13_check_digit(body)


# --- creating ----------------------------------------------------------------------------

def create_barcode(session: Session, organization_id: int, request: BarcodeRequest, *, actor: Actor) -> Barcode:
    """One barcode for a member and an offer. Raises ValidationFailed, NotFound (as a field error)."""
    return create_barcodes(session, organization_id, [request], actor=actor, _single=True)[0]


def create_barcodes(session: Session, organization_id: int, requests: list[BarcodeRequest], *, actor: Actor,
                    _single: bool = False) -> list[Barcode]:
    """Up to MAX_BATCH barcodes, all or none: any bad item raises naming `barcodes[i].field`."""
    if not requests:
        raise ValidationFailed("Give at least one barcode", field="barcodes")
    if len(requests) > MAX_BATCH:
        raise ValidationFailed(f"At most {MAX_BATCH} barcodes per batch", field="barcodes")
    prepared = []
    for index, request in enumerate(requests):
        try:
            prepared.append((request, _prepare(session, organization_id, request)))
        except (ValidationFailed, NotFound) as error:
            raise _at_index(error, None if _single else index) from None
    for _attempt in range(5):
        numbers = _fresh_numbers(session, len(prepared))
        barcodes = [Barcode(organization_id=organization_id, barcode_number=number, offer_type=offer.type,
                            offer_id=offer.id, member_id=request.customer_id, channel=request.channel,
                            tracking_code=request.tracking_code, expiry_date=offer.expiry_date,
                            active_flag=not offer.activatable)
                    for number, (request, offer) in zip(numbers, prepared)]
        try:
            with session.begin_nested():
                session.add_all(barcodes)
        except IntegrityError:
            continue  # a concurrent request drew the same number: draw again
        for barcode in barcodes:
            audit.record(session, actor, "barcode.created", barcode, offerType=barcode.offer_type,
                         offerId=barcode.offer_id, memberId=barcode.member_id, channel=barcode.channel)
        return barcodes
    raise NoUnusedValue("Could not draw unused barcode numbers; try again", field="barcodes")


# --- reading ---------------------------------------------------------------------------

def get_barcode(session: Session, organization_id: int, number: str) -> Barcode:
    barcode = session.scalars(select(Barcode).where(Barcode.barcode_number == number.strip())).first()
    if barcode is None or barcode.organization_id != organization_id:
        raise NotFound("Barcode not found", field="barcodeNumber")
    return barcode


def barcodes_query(organization_id: int, *, customer_id: int | None = None, offer_id: int | None = None,
                   offer_type: str | None = None, tracking_code: str | None = None):
    return where_given(select(Barcode).where(Barcode.organization_id == organization_id),
                       (Barcode.member_id, customer_id), (Barcode.offer_id, offer_id),
                       (Barcode.offer_type, offer_type), (Barcode.tracking_code, tracking_code or None))


def offer_of(session: Session, barcode: Barcode) -> Offer:
    return _offer(session, barcode.organization_id, barcode.offer_type, barcode.offer_id)


def is_active(session: Session, barcode: Barcode, today: dt.date | None = None) -> bool:
    """Active: not expired and, for an activatable coupon book, activated by the member."""
    today = today or utcnow().date()
    if barcode.expiry_date is not None and barcode.expiry_date < today:
        return False
    if barcode.offer_type == COUPON_BOOK:
        from .coupons import CouponBook, find_account_coupon

        book = session.get(CouponBook, barcode.offer_id)
        if book is not None and book.activatable:
            account = find_account_coupon(session, barcode.member_id, book.id)
            return bool(account and account.activated)
    return True


def member_of(session: Session, barcode: Barcode) -> Member:
    return session.get(Member, barcode.member_id)


# --- images -------------------------------------------------------------------------------

def symbology_for(number: str, requested: str | None = None) -> str:
    """Code128 unless EAN-13 is asked for; EAN-13 only where the number fits it."""
    if requested is None or requested == CODE128:
        return CODE128
    if requested == EAN13 and is_ean13(number):
        return EAN13
    raise ValidationFailed("EAN-13 needs a 13-digit number with a valid check digit" if requested == EAN13
                           else f"symbology must be one of {', '.join(SYMBOLOGIES)}", field="symbology")


def render_svg(number: str, symbology: str = CODE128) -> bytes:
    from barcode.writer import SVGWriter

    return _render(number, symbology, SVGWriter(), {})


def render_png(number: str, symbology: str = CODE128) -> bytes:
    from barcode.writer import ImageWriter

    return _render(number, symbology, ImageWriter(), {"format": "PNG", "dpi": 200})


def _render(number: str, symbology: str, writer, options: dict) -> bytes:
    import barcode as python_barcode

    payload = number[:12] if symbology == EAN13 else number
    code = python_barcode.get(symbology, payload, writer=writer)
    buffer = io.BytesIO()
    code.write(buffer, options=options)
    return buffer.getvalue()


# --- internals ---------------------------------------------------------------------------

def _prepare(session: Session, organization_id: int, request: BarcodeRequest) -> Offer:
    if request.channel not in CHANNELS:
        raise ValidationFailed(f"channel must be one of {', '.join(CHANNELS)}", field="channel")
    if request.offer_type not in OFFER_TYPES:
        raise ValidationFailed(f"offerType must be one of {', '.join(OFFER_TYPES)}", field="offerType")
    if request.tracking_code is not None and len(request.tracking_code) > 100:
        raise ValidationFailed("trackingCode is at most 100 characters", field="trackingCode")
    try:
        member = get_member(session, organization_id, request.customer_id)
    except NotFound:
        raise ValidationFailed("No such customer in this organisation", field="customerId") from None
    if member.erased_at is not None:
        raise ValidationFailed("No such customer in this organisation", field="customerId")
    return _offer(session, organization_id, request.offer_type, request.offer_id)


def _offer(session: Session, organization_id: int, offer_type: str, offer_id: int) -> Offer:
    if not fits_id(offer_id):
        raise ValidationFailed("No such offer in this organisation", field="offerId")
    if offer_type == COUPON_BOOK:
        from .coupons import ARCHIVED, CouponBook

        book = session.get(CouponBook, offer_id)
        if book is None or book.organization_id != organization_id or book.publishing_status == ARCHIVED:
            raise ValidationFailed("No such coupon book in this organisation", field="offerId")
        return Offer(type=COUPON_BOOK, id=book.id, name=book.name,
                     expiry_date=book.valid_to.date() if book.valid_to else None, activatable=book.activatable)
    from .organizations import LoyaltyProgram

    program = session.get(LoyaltyProgram, offer_id)
    if program is None or program.organization_id != organization_id:
        raise ValidationFailed("No such loyalty programme in this organisation", field="offerId")
    return Offer(type=LOYALTY_PROGRAM, id=program.id, name=program.name, expiry_date=None, activatable=False)


def _fresh_numbers(session: Session, count: int) -> list[str]:
    numbers: set[str] = set()
    while len(numbers) < count:
        numbers.update(new_number() for _ in range(count - len(numbers)))
        taken = set(session.scalars(select(Barcode.barcode_number).where(Barcode.barcode_number.in_(numbers))))
        numbers -= taken
    return sorted(numbers)


def _at_index(error, index: int | None):
    if index is None:
        return error
    fields = error.errors or {error.field or "": [error.message]}
    error.errors = {f"barcodes[{index}]" + (f".{name}" if name else ""): messages for name, messages in fields.items()}
    error.field = next(iter(error.errors))
    error.message = f"barcodes[{index}]: {error.message}"
    if isinstance(error, NotFound):
        return ValidationFailed(error.message, errors=error.errors)
    return error
