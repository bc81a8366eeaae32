"""Code pools: generated or imported codes of a coupon book.

Invariants: codes are unique within a book (a unique index, so concurrent
imports cannot duplicate); generated codes use the unambiguous alphabet of card
codes (no 0/O, 1/I/L) and are long enough that a guess hits any issued code
with a probability below one in a billion (`GUESS_ODDS`); `book.code_count`
always equals the number of code rows (updated in the same statement batch).
A code switched off (`active` false) or past its own `expires_at` is neither
handed out nor used; a code keeps its text once handed out (update_code).
"""
from __future__ import annotations

import datetime as dt
import math
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import audit
from ..actors import Actor
from ..base import get_owned, utcnow
from ..errors import ConcurrentChange, DuplicateValue, NoUnusedValue, ValidationFailed
from ..members import CODE_ALPHABET
from .books import usable_code
from .errors import CouponBookArchived, CouponCodeHandedOut
from .models import ARCHIVED, CouponBook, CouponCode

GUESS_ODDS = 10 ** 9          # one lucky guess in a billion, at the pool's final size
MIN_LENGTH, MAX_LENGTH = 8, 32
DEFAULT_LENGTH = 12           # 31^12 is about 7.9e17
MAX_GENERATE = 20_000         # per request; more in several calls
MAX_IMPORT = 20_000
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_-]{0,20}$")
_CHUNK = 500


@dataclass
class RowError:
    """A refused row of a code import: `index` counts from 0, `code` is the code as sent (not an error code)."""

    index: int
    code: str
    message: str


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def minimum_length(pool_size: int) -> int:
    """Shortest random part so that pool_size / 31^length stays below 1 / GUESS_ODDS."""
    return max(MIN_LENGTH, math.ceil(math.log(max(pool_size, 1) * GUESS_ODDS, len(CODE_ALPHABET))))


def random_codes(count: int, length: int, prefix: str = "") -> set[str]:
    """`count` distinct random codes: bytes from the OS generator, rejection-sampled so each
    character is uniform over the alphabet (248 = 8 x 31; larger bytes are dropped)."""
    size = len(CODE_ALPHABET)
    limit = 256 - 256 % size
    codes: set[str] = set()
    while len(codes) < count:
        needed = (count - len(codes)) * length
        chars = [CODE_ALPHABET[b % size] for b in secrets.token_bytes(needed + needed // 8 + 16) if b < limit]
        for start in range(0, len(chars) - length + 1, length):
            codes.add(prefix + "".join(chars[start:start + length]))
            if len(codes) == count:
                break
    return codes


def generate_codes(session: Session, book: CouponBook, count: int, *, actor: Actor, prefix: str = "",
                   length: int | None = None) -> list[str]:
    """Add `count` new random codes to the book's pool and return them.

    Raises ValidationFailed when the count, prefix or length is out of range, or
    the length would make codes guessable for the pool's size.
    """
    _require_open(book)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_GENERATE:
        raise ValidationFailed(f"count must be between 1 and {MAX_GENERATE}", field="generate.count")
    prefix = (prefix or "").strip().upper()
    if not PREFIX_PATTERN.match(prefix):
        raise ValidationFailed("prefix: up to 20 letters, digits, - or _", field="generate.prefix")
    needed = minimum_length(book.code_count + count)
    if length is None:
        length = max(DEFAULT_LENGTH, needed)
    if not needed <= length <= MAX_LENGTH:
        raise ValidationFailed(f"length must be between {needed} and {MAX_LENGTH} for a pool of "
                               f"{book.code_count + count} codes, so that codes cannot be guessed",
                               field="generate.length")
    for _attempt in range(3):
        codes = sorted(random_codes(count, length, prefix))
        try:
            # A clash with a code already in the pool is so unlikely (see GUESS_ODDS) that the
            # unique index checks it rather than a query per batch; on a clash, draw again.
            with session.begin_nested():
                _insert(session, book, codes)
            break
        except IntegrityError:
            session.expire(book, ["code_count"])
    else:
        raise NoUnusedValue("Could not draw unused codes; try again", field="generate")
    audit.record(session, actor, "coupon_book.codes_generated", book, count=count, length=length,
                 prefix=prefix)
    return codes


def check_codes(session: Session, book: CouponBook, codes: list[str]) -> ImportResult:
    """What an import would do: the clean codes and one error per bad row. Writes nothing."""
    result = ImportResult()
    seen: dict[str, int] = {}
    cleaned: list[tuple[int, str]] = []
    for index, raw in enumerate(codes):
        code = (raw if isinstance(raw, str) else "").strip()
        if not code:
            result.errors.append(RowError(index, str(raw), "empty code"))
        elif not CODE_PATTERN.match(code):
            result.errors.append(RowError(index, code, "use up to 100 letters, digits, - or _"))
        elif code in seen:
            result.errors.append(RowError(index, code, f"duplicate of row {seen[code] + 1}"))
        else:
            seen[code] = index
            cleaned.append((index, code))
    taken = _existing(session, book, {code for _, code in cleaned})
    for index, code in cleaned:
        if code in taken:
            result.errors.append(RowError(index, code, "already in this coupon book"))
        else:
            result.added.append(code)
    result.errors.sort(key=lambda e: e.index)
    return result


def import_codes(session: Session, book: CouponBook, codes: list[str], *, actor: Actor,
                 skip_invalid: bool = False) -> ImportResult:
    """Add the given codes to the pool.

    All or nothing by default: any bad row raises ValidationFailed naming
    `codes[i]`. With skip_invalid (the console's CSV upload) the good rows are
    added and the bad ones come back in `errors`.
    """
    _require_open(book)
    if not codes:
        raise ValidationFailed("Give at least one code", field="codes")
    if len(codes) > MAX_IMPORT:
        raise ValidationFailed(f"At most {MAX_IMPORT} codes per import", field="codes")
    result = check_codes(session, book, codes)
    if result.errors and not skip_invalid:
        raise ValidationFailed(f"codes[{result.errors[0].index}]: {result.errors[0].message}",
                               errors={f"codes[{e.index}]": [e.message] for e in result.errors})
    if result.added:
        try:
            with session.begin_nested():
                _insert(session, book, result.added)
        except IntegrityError:
            raise ConcurrentChange("Some codes were added by someone else meanwhile; try again", field="codes") from None
    audit.record(session, actor, "coupon_book.codes_imported", book, added=len(result.added),
                 rejected=len(result.errors))
    return result


def codes_query(book: CouponBook, *, status: str | None = None, code: str | None = None) -> Select:
    """The pool, for listing: status free (can still be handed out), assigned or used."""
    stmt = select(CouponCode).where(CouponCode.book_id == book.id)
    if code:
        stmt = stmt.where(CouponCode.code == code.strip())
    if status == "free":
        stmt = stmt.where(usable_code(utcnow()))
        if book.max_assigned_per_coupon is not None:
            stmt = stmt.where(CouponCode.assigned_count < book.max_assigned_per_coupon)
    elif status == "assigned":
        stmt = stmt.where(CouponCode.assigned_count > 0)
    elif status == "used":
        stmt = stmt.where(CouponCode.used_count > 0)
    elif status is not None:
        raise ValidationFailed("status must be free, assigned or used", field="status")
    return stmt


def get_code(session: Session, book: CouponBook, code_id: int) -> CouponCode:
    return get_owned(session, CouponCode, code_id, book.organization_id, what="Coupon code", field="couponId",
                     book_id=book.id)


def code_status(book: CouponBook, code: CouponCode) -> str:
    if code.used_count and book.max_assigned_per_coupon is not None and \
            code.used_count >= book.max_assigned_per_coupon:
        return "used"
    if book.max_assigned_per_coupon is not None and code.assigned_count >= book.max_assigned_per_coupon:
        return "assigned"
    if not code.active:
        return "inactive"
    if code.expires_at is not None and code.expires_at <= utcnow():
        return "expired"
    return "free"


# --- internals -------------------------------------------------------------------

def _require_open(book: CouponBook) -> None:
    if book.publishing_status == ARCHIVED:
        raise CouponBookArchived("An archived coupon book takes no more codes", field="publishingStatus")


def _existing(session: Session, book: CouponBook, codes: set[str]) -> set[str]:
    found: set[str] = set()
    ordered = list(codes)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start:start + _CHUNK]
        found.update(session.scalars(select(CouponCode.code).where(CouponCode.book_id == book.id,
                                                                   CouponCode.code.in_(chunk))))
    return found


def _insert(session: Session, book: CouponBook, codes: list[str]) -> None:
    """One multi-row INSERT (executemany) and the book's count in the same transaction."""
    session.execute(insert(CouponCode), [{"organization_id": book.organization_id, "book_id": book.id, "code": c,
                                          "assigned_count": 0, "used_count": 0} for c in codes])
    session.execute(update(CouponBook).where(CouponBook.id == book.id)
                    .values(code_count=CouponBook.code_count + len(codes))
                    .execution_options(synchronize_session=False))
    session.expire(book, ["code_count"])


_UNSET: Any = object()


def update_code(session: Session, book: CouponBook, code: CouponCode, *, actor: Actor, text: str = _UNSET,
                active: bool = _UNSET, expires_at: dt.datetime | None = _UNSET, member: Any = _UNSET) -> CouponCode:
    """Change one code of the pool (PATCH .../codes/{couponId}); only the arguments given change.

    `text` renames a code never handed out (CouponCodeHandedOut otherwise; DuplicateValue when the book has
    it); `active` False stops the code being handed out or used, `expires_at` gives it its own end (None:
    none); `member` assigns the code to that member (the assignment rules apply: coupons.assign_coupons),
    or with None withdraws its unused assignment (CouponAlreadyUsed when it was used: revert the use first).
    """
    from . import services

    _require_open(book)
    changed = []
    if text is not _UNSET:
        text = (text or "").strip()
        if not CODE_PATTERN.match(text):
            raise ValidationFailed("use up to 100 letters, digits, - or _", field="code")
        if text != code.code:
            if code.assigned_count or code.used_count:
                raise CouponCodeHandedOut("This code was handed out; it keeps its text", field="code")
            if _existing(session, book, {text}):
                raise DuplicateValue("This coupon book already has this code", field="code")
            code.code = text
            changed.append("code")
    if active is not _UNSET:
        code.active = bool(active)
        changed.append("active")
    if expires_at is not _UNSET:
        if expires_at is not None and (not isinstance(expires_at, dt.datetime) or expires_at.tzinfo is None):
            raise ValidationFailed("Give a date-time with a timezone", field="expiredAt")
        code.expires_at = expires_at
        changed.append("expiredAt")
    session.flush()
    if member is not _UNSET:
        if member is None:
            services.withdraw_code(session, book, code, actor=actor)
        elif not services.holds_code(session, member, code):
            services.assign_coupons(session, member, book, actor=actor, codes=[code.code], strict_mode=True)
        changed.append("memberId")
        session.refresh(code)
    audit.record(session, actor, "coupon_code.updated", code, couponBookId=book.id, fields=changed)
    return code
