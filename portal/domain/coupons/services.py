"""Assigning, using and reverting coupons; activation; coupons applied to purchases.

One home for every coupon rule: the JSON API, the point-of-sale routes, the
console, the member portal and the earning engine all call these functions.

Rules, in the order they are checked (so that the answer never depends on
whether a guessed code exists):
1. the member's account is ACTIVE (AccountNotActive);
2. the book is published (CouponNotPublished), not ended (CouponExpired),
   for a use also started (CouponNotYetValid) and not an automatic type
   (CouponManualUseNotAllowed); the member's tier is allowed (CouponNotEligible)
   and, when the book names audiences (audienceKeys), the member is in one of
   them by the same evaluation as campaigns' audiences (CouponNotInAudience);
3. an activatable book was activated by the member (CouponNotActivated); for a
   use, the book's `condition` holds for the purchase, the store and the
   moment (conditions.py: one error per condition, all CouponConditionNotMet);
4. a coupon the member already holds is used first; otherwise a new one is
   assigned on the spot, within maxAssignedPerMember, maxCouponCount and the
   member's points (CouponLimitReached, InsufficientPoints), checked before
   the named code is even looked up;
5. a named code that the member does not hold and that cannot be handed out
   (unknown, someone else's, used up) is refused with one and the same
   CouponCodeNotUsable; failures are counted per member, per acting API key
   or staff user, and per organisation, and past a limit (throttle.LIMITS
   "code-*", set in config.py) every named code gets TooManyAttempts (429),
   so that guesses spread over many members still run out.

Limits are exact under concurrency: every operation on a (member, book) pair
first locks its AccountCoupon row, and every counter moves by a conditional
UPDATE whose row count is checked. Lock order, the same everywhere so that
PostgreSQL never deadlocks: account coupon -> book -> code -> assignment ->
wallets. A purchase therefore uses its coupons before any points move (see
apply_purchase_coupons). The wait for an AccountCoupon row held by another
request is bounded (`lock_wait`, PostgreSQL's lock_timeout); past it the
request fails with CouponBusy (503, retry) rather than going on without the
coupon.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Callable

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from .. import audit, earning, outbox, idempotency, ledger, throttle
from ..actors import Actor
from ..base import adopt_inserted, adopt_updated, get_owned, isoformat, utcnow
from ..errors import AccountNotActive, AlreadyResolved, Conflict, InsufficientBalance, NotFound, ValidationFailed
from ..ledger import LedgerAccount, LedgerTransaction, Reason
from ..members import Member
from ..organizations import LoyaltyProgram, Organization
from ..tiers import MemberTier
from . import conditions, statements
from .books import free_code_count
from .errors import (CouponAlreadyUsed, CouponBusy, CouponCodeInactive, CouponCodeNotUsable, CouponExpired,
                     CouponLimitReached, CouponManualUseNotAllowed, CouponNotActivatable, CouponNotActivated,
                     CouponNotEligible, CouponNotInAudience, CouponNotPublished, CouponNotYetValid, CouponRefused,
                     InsufficientPoints)
from .models import (ASSIGN, ASSIGNED, EXTRAPOINT, MULTIPLIER, PUBLISHED, REVERTED, USE, USED, AccountCoupon,
                     CouponBook, CouponCode, CouponUsage)

MAX_ASSIGN_PER_REQUEST = 100
# Refused codes are counted per member, per acting key or user, and per organisation.
CODE_SCOPE, CODE_ACTOR_SCOPE, CODE_ORGANIZATION_SCOPE = "coupon-code", "coupon-code-actor", "coupon-code-organization"
_ACCOUNT_COUPON_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://portal.example/account-coupons")
# How long a request waits for a (member, book) row another request holds (PostgreSQL; SQLite runs one
# writer at a time and its busy_timeout bounds the wait). config.py COUPON_LOCK_WAIT_MS sets it (`configure`).
lock_wait = dt.timedelta(seconds=5)


def configure(*, lock_wait_ms: int) -> None:
    global lock_wait
    lock_wait = dt.timedelta(milliseconds=lock_wait_ms)


@dataclass(frozen=True)
class Place:
    """Where a coupon was assigned or used: the store and the till (Convercus `interaction-id`)."""

    location_code: str | None = None
    interaction_point: str | None = None


@dataclass
class CouponResult:
    usages: list[CouponUsage]
    replayed: bool = False
    # id -> text of the codes this call handed out, so that showing them reads nothing (a replay leaves it empty)
    codes: dict[int, str] = field(default_factory=dict)


@dataclass
class Purchase:
    """A purchase as coupons see it: by the earning engine, or given with a use at the till.

    `items` are {"sku", "category", "quantity", "unitPrice", "isDiscount"}; `first_purchase`
    None means "work it out from the member's confirmed orders".
    """

    total: Decimal
    base_points: int = 0
    external_id: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    place: Place = field(default_factory=Place)
    first_purchase: bool | None = None

    def as_params(self) -> dict[str, Any]:
        return {"total": str(self.total), "externalId": self.external_id, "items": self.items}


@dataclass
class AppliedCoupon:
    book_id: int
    type: str
    value: Decimal
    assignment_id: int
    usage_id: int | None  # None in a dry run


@dataclass
class PurchaseCouponEffects:
    """Extra points add up; of several multipliers only the highest applies (and only it is used)."""

    extra_points: int = 0
    multiplier: Decimal = Decimal(1)
    applied: list[AppliedCoupon] = field(default_factory=list)

    def points_for(self, base_points: int) -> int:
        multiplied = (Decimal(base_points) * self.multiplier).to_integral_value(rounding=ROUND_FLOOR)
        return int(multiplied) + self.extra_points


# --- identifiers ---------------------------------------------------------------------

def account_coupon_public_id(organization_id: int, member_id: int, book_id: int) -> str:
    """The Convercus accountCouponId: the same for a member and a book, whenever asked."""
    return str(uuid.uuid5(_ACCOUNT_COUPON_NAMESPACE, f"{organization_id}:{member_id}:{book_id}"))


def get_usage(session: Session, organization_id: int, usage_id: int) -> CouponUsage:
    return get_owned(session, CouponUsage, usage_id, organization_id, what="Coupon usage", field="couponUsageId")


def usages_by_ids(session: Session, ids: list[int]) -> list[CouponUsage]:
    if not ids:
        return []
    found = {u.id: u for u in session.scalars(select(CouponUsage).where(CouponUsage.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def get_account_coupon(session: Session, organization_id: int, public_id: str) -> AccountCoupon:
    account = session.scalars(select(AccountCoupon).where(AccountCoupon.public_id == public_id)).first()
    if account is None or account.organization_id != organization_id:
        raise NotFound("Account coupon not found", field="accountCouponId")
    return account


def find_account_coupon(session: Session, member_id: int, book_id: int) -> AccountCoupon | None:
    return session.scalars(select(AccountCoupon).where(AccountCoupon.book_id == book_id,
                                                       AccountCoupon.member_id == member_id)).first()


# --- assigning --------------------------------------------------------------------------

def assign_coupons(session: Session, member: Member, book: CouponBook, *, actor: Actor, number_of_codes: int = 1,
                   strict_mode: bool = False, expires_at: dt.datetime | None = None,
                   system_unique_keys: list[str] | None = None, codes: list[str] | None = None,
                   place: Place | None = None, custom_attributes: dict[str, Any] | None = None,
                   now: dt.datetime | None = None) -> CouponResult:
    """Give the member `number_of_codes` coupons of the book (a code each when the book has a pool).

    With `codes`, exactly those codes of the pool (one coupon each). Without
    strict mode as many as the limits allow are assigned (at least one); with
    it, all or none. Burns assignmentRequiredPoints per coupon. Raises the
    CouponRefused family, InsufficientPoints, AccountNotActive, ValidationFailed,
    TooManyAttempts (named codes), IdempotencyKeyReused.
    """
    now = now or utcnow()
    place = place or Place()
    wanted = [c.strip() for c in (codes or [])]
    if wanted:
        if any(not c for c in wanted) or len(set(wanted)) != len(wanted):
            raise ValidationFailed("codes must be distinct and not empty", field="codes")
        number_of_codes = len(wanted)
    if isinstance(number_of_codes, bool) or not isinstance(number_of_codes, int) or \
            not 1 <= number_of_codes <= MAX_ASSIGN_PER_REQUEST:
        raise ValidationFailed(f"numberOfCodes must be between 1 and {MAX_ASSIGN_PER_REQUEST}", field="numberOfCodes")
    keys = [k for k in (system_unique_keys or []) if k]
    if keys and len(keys) not in (1, number_of_codes):
        raise ValidationFailed("Give one systemUniqueKey, or one per code", field="systemUniqueKeys")

    def perform() -> CouponResult:
        # Checked here, not before: a retry after expiredAt has passed still replays the first answer.
        if expires_at is not None and expires_at <= now:
            raise ValidationFailed("expiredAt must be in the future", field="expiredAt")
        _require_active(member)
        _require_assignable(book, now)
        _require_eligible(session, member, book, now)
        if wanted:
            _check_code_attempts(session, member, actor)
        account = lock_account_coupon(session, member, book)
        if wanted:
            _precheck_new_assignment(session, member, book, account, book.assignment_required_points)
        assigned: list[CouponUsage] = []
        codes: dict[int, str] = {}
        for index in range(number_of_codes):
            key = keys[index] if len(keys) == number_of_codes else (keys[0] if keys else None)
            try:
                with session.begin_nested():
                    assignment, code_text = _assign_one(session, member, book, account, actor=actor, now=now,
                                                        expires_at=expires_at, key=key, place=place,
                                                        custom_attributes=custom_attributes,
                                                        wanted_code=wanted[index] if wanted else None)
            except (CouponRefused, InsufficientBalance):
                if strict_mode or not assigned:
                    raise
                break
            assigned.append(assignment)
            if code_text is not None:
                codes[assignment.code_id] = code_text
        return CouponResult(assigned, codes=codes)

    params = {"book": book.id, "member": member.id, "n": number_of_codes, "strict": strict_mode,
              "expiredAt": isoformat(expires_at), "keys": keys, "codes": wanted, "place": _place_params(place),
              "customAttributes": custom_attributes or {}}
    return _once(session, member.organization_id, _combined_key("assign", keys), "coupon.assign", params, perform)


def claim_coupon(session: Session, member: Member, book: CouponBook, *, actor: Actor,
                 system_unique_key: str | None = None, place: Place | None = None) -> CouponResult:
    """The member takes one coupon of the book for themselves (the portal's 'claim' button)."""
    return assign_coupons(session, member, book, actor=actor, number_of_codes=1, strict_mode=True,
                          system_unique_keys=[system_unique_key] if system_unique_key else None, place=place)


def claim_voucher_code(session: Session, member: Member, code: str, *, actor: Actor,
                       system_unique_key: str | None = None, place: Place | None = None,
                       now: dt.datetime | None = None) -> CouponResult:
    """A member types in a code from a paper voucher: its book is found and the code becomes theirs.

    Any refusal that would tell whether the code exists (unknown, taken, used
    up, expired or unpublished book, limits, points) reads as
    CouponCodeNotUsable; only AccountNotActive and TooManyAttempts differ, and
    they do not depend on the code. A code the member already holds comes back
    as it is (replayed). Record a CouponCodeNotUsable with note_code_failure.
    """
    now = now or utcnow()
    code = (code or "").strip()
    _require_active(member)
    _check_code_attempts(session, member, actor)
    if not code:
        raise CouponCodeNotUsable()
    variants = _code_variants(code)
    held = session.scalars(select(CouponUsage).join(CouponCode, CouponCode.id == CouponUsage.code_id)
                           .where(CouponUsage.member_id == member.id, CouponUsage.kind == ASSIGN,
                                  CouponUsage.reverted_at.is_(None), CouponCode.code.in_(variants))).first()
    if held is not None:
        return CouponResult([held], replayed=True)
    book = session.scalars(select(CouponBook).join(CouponCode, CouponCode.book_id == CouponBook.id)
                           .where(CouponBook.organization_id == member.organization_id,
                                  CouponCode.code.in_(variants))
                           .order_by(CouponBook.publishing_status != PUBLISHED, CouponBook.id)).first()
    if book is None:
        raise CouponCodeNotUsable()
    try:
        return assign_coupons(session, member, book, actor=actor, codes=[code], strict_mode=True,
                              system_unique_keys=[system_unique_key] if system_unique_key else None, place=place,
                              now=now)
    except (CouponRefused, InsufficientBalance) as error:
        if isinstance(error, CouponCodeNotUsable):
            raise
        raise CouponCodeNotUsable() from None


# --- using ------------------------------------------------------------------------------

def use_coupon(session: Session, member: Member, book: CouponBook, *, actor: Actor, code: str | None = None,
               system_unique_key: str | None = None, place: Place | None = None,
               custom_attributes: dict[str, Any] | None = None, purchase: Purchase | None = None,
               now: dt.datetime | None = None) -> CouponResult:
    """Use one of the member's coupons of the book, the one with `code` if named.

    When the member holds no usable coupon, one is assigned on the spot (with
    the named code if it is free) and used. Burns usageRequiredPoints. The
    book's condition is checked against `purchase` (needed when the condition
    looks at the basket: CouponPurchaseRequired), the place and `now`. Raises
    the CouponRefused family (see the module docstring), InsufficientPoints,
    AccountNotActive, TooManyAttempts, IdempotencyKeyReused.

    A CouponCodeNotUsable must outlive the rolled-back transaction: the caller
    rolls back, calls `note_code_failure` and commits, then reports the error.
    """
    now = now or utcnow()
    place = place or Place()
    code = (code or "").strip() or None

    def perform() -> CouponResult:
        use, new_assignment, code_text = _use(session, member, book, actor=actor, code=code, key=system_unique_key,
                                              place=place, custom_attributes=custom_attributes, now=now, manual=True,
                                              purchase=purchase)
        # Campaigns listening to coupon uses run inside the same operation: a replay does not run them again.
        earning.dispatch(session, earning.LoyaltyEvent(
            organization_id=member.organization_id, member=member, event_type=earning.COUPON_USED,
            payload={"couponBookId": book.id, "couponUsageId": use.id, "type": book.type},
            occurred_at=now, location_code=place.location_code), actor=actor)
        return CouponResult(([new_assignment] if new_assignment else []) + [use],
                            codes={use.code_id: code_text} if code_text is not None else {})

    params = {"book": book.id, "member": member.id, "code": code, "place": _place_params(place),
              "customAttributes": custom_attributes or {}}
    if purchase is not None:
        params["purchase"] = purchase.as_params()
    return _once(session, member.organization_id, system_unique_key, "coupon.use", params, perform)


def serialize_code_attempts(session: Session, member: Member, *, actor: Actor) -> None:
    """Hold the code counts of this member and actor until the transaction ends and read them
    (throttle.lock_and_count; the check uses what it read), so that of parallel code attempts exactly the
    allowed number reach the check. Take it before the savepoint the work runs in: the refusal is then
    written (note_code_failure) and committed while the locks are still held."""
    # The member's own count (limit 10) has one lock; the key's and the organisation's are locked by one of
    # their slots while far from their limits, so that a till's uses do not wait for each other.
    counts = _code_counts(member, actor)
    throttle.lock_and_count(session, [(scope, key, None if scope == CODE_SCOPE else name)
                                      for scope, key, name, _ in counts],
                            [(scope, key, throttle.LIMITS[name].window) for scope, key, name, _ in counts])


def note_code_failure(session: Session, member: Member, *, actor: Actor) -> None:
    """Count a refused code against the member, the actor and the organisation (call in its
    own transaction, see use_coupon)."""
    for scope, key, _, _ in _code_counts(member, actor):
        throttle.record_failure(session, scope, key)


def redeem_account_coupon(session: Session, organization_id: int, account_coupon_id: str, *, actor: Actor,
                          system_unique_key: str | None = None, place: Place | None = None,
                          purchase: Purchase | None = None, now: dt.datetime | None = None) -> CouponResult:
    """Point of sale: use the member's coupon of the book behind an accountCouponId."""
    account = get_account_coupon(session, organization_id, account_coupon_id)
    member = session.get(Member, account.member_id)
    book = session.get(CouponBook, account.book_id)
    return use_coupon(session, member, book, actor=actor, system_unique_key=system_unique_key, place=place,
                      purchase=purchase, now=now)


# --- one code (PATCH .../codes/{couponId}, codes.update_code) ----------------------------------

def holds_code(session: Session, member: Member, code: CouponCode) -> bool:
    """The member has a live assignment of this code."""
    return session.scalar(select(CouponUsage.id).where(CouponUsage.member_id == member.id,
                                                       CouponUsage.code_id == code.id, CouponUsage.kind == ASSIGN,
                                                       CouponUsage.reverted_at.is_(None)).limit(1)) is not None


def withdraw_code(session: Session, book: CouponBook, code: CouponCode, *, actor: Actor) -> list[CouponUsage]:
    """Take back the code's unused assignments (points burned for them are refunded); a used one stays.

    Raises CouponAlreadyUsed when the code was used (revert the use first).
    """
    held = session.scalars(select(CouponUsage).where(CouponUsage.code_id == code.id, CouponUsage.kind == ASSIGN,
                                                     CouponUsage.reverted_at.is_(None))
                           .order_by(CouponUsage.member_id, CouponUsage.id)).all()
    withdrawn = []
    for assignment in held:
        account = lock_account_coupon(session, session.get(Member, assignment.member_id), book)
        session.refresh(assignment)
        if assignment.state == USED:
            raise CouponAlreadyUsed("This code was used; revert its use before withdrawing it", field="memberId")
        withdrawn.append(_revert_assignment(session, book, account, assignment, actor=actor))
    return withdrawn


# --- activation ---------------------------------------------------------------------------

def set_activation(session: Session, member: Member, book: CouponBook, activated: bool, *, actor: Actor,
                   now: dt.datetime | None = None) -> AccountCoupon:
    """Activate or deactivate an activatable book for the member (Convercus activation).

    Raises CouponNotActivatable, CouponNotPublished, CouponExpired, AccountNotActive.
    """
    now = now or utcnow()
    if not book.activatable:
        raise CouponNotActivatable("This coupon is always active; it cannot be activated or deactivated",
                                   field="activated")
    _require_active(member)
    _require_assignable(book, now)
    account = lock_account_coupon(session, member, book)
    account.activated = bool(activated)
    if activated:
        account.last_activation_date = now
    session.flush()
    audit.record(session, actor, "coupon.activated" if activated else "coupon.deactivated", account,
                 couponBookId=book.id, memberId=member.id)
    return account


def set_account_coupon_activation(session: Session, organization_id: int, account_coupon_id: str, activated: bool,
                                  *, actor: Actor) -> AccountCoupon:
    account = get_account_coupon(session, organization_id, account_coupon_id)
    return set_activation(session, session.get(Member, account.member_id), session.get(CouponBook, account.book_id),
                          activated, actor=actor)


# --- reverting ----------------------------------------------------------------------------

def revert_usage(session: Session, organization_id: int, usage_id: int, *, actor: Actor,
                 system_unique_key: str | None = None) -> CouponResult:
    """Undo a use (the coupon can be used again) or an assignment (its use too, if used).

    Points burned for what is reverted are refunded. Raises NotFound,
    AlreadyResolved when already reverted.
    """
    def perform() -> CouponResult:
        usage = get_usage(session, organization_id, usage_id)
        member = session.get(Member, usage.member_id)
        book = session.get(CouponBook, usage.book_id)
        account = lock_account_coupon(session, member, book)
        session.refresh(usage)
        if usage.reverted_at is not None:
            raise AlreadyResolved("This coupon usage was already reverted", field="couponUsageId")
        reverted = []
        if usage.kind == USE:
            reverted.append(_revert_use(session, book, account, usage, actor=actor))
        else:
            if usage.state == USED:
                live_use = session.scalars(select(CouponUsage).where(
                    CouponUsage.assignment_id == usage.id, CouponUsage.kind == USE,
                    CouponUsage.reverted_at.is_(None))).first()
                if live_use is not None:
                    reverted.append(_revert_use(session, book, account, live_use, actor=actor))
            reverted.append(_revert_assignment(session, book, account, usage, actor=actor))
        return CouponResult(reverted)

    return _once(session, organization_id, system_unique_key, "coupon.revert", {"usage": usage_id}, perform)


# --- purchases (called by the earning engine) ---------------------------------------------

def apply_purchase_coupons(session: Session, member: Member, purchase: Purchase, *, actor: Actor,
                           qualifies: Callable[[CouponBook, Purchase], bool] | None = None,
                           dry_run: bool = False, system_unique_key: str | None = None,
                           now: dt.datetime | None = None, held_books: list | None = None) -> PurchaseCouponEffects:
    """Use the member's EXTRAPOINT and MULTIPLIER coupons that this purchase qualifies for.

    A coupon qualifies when its book is published and current, the member may
    use it (tier, audience, activation, expiry, its code active), the book's
    condition holds for the purchase (conditions.py), and `qualifies(book,
    purchase)` (the rules engine's say) is true. One coupon per EXTRAPOINT
    book applies; of the multipliers only the highest. Coupons are taken in
    the order they expire; one that cannot be combined applies only as the
    purchase's only coupon (counting coupons already used on it at the till).
    With dry_run nothing is written (simulation). Idempotency belongs to the
    caller's operation: call this inside it.

    The earning engine calls this before any campaign mints (campaigns.py,
    `use_purchase_coupons`), so that the coupon rows are locked before the
    wallets, in the module's lock order. A coupon row another request holds is
    waited for, up to `lock_wait`; then CouponBusy fails the whole purchase
    (nothing earned, nothing used) rather than letting it earn without the coupon. `held_books`: what
    `lock_purchase_coupons` returned in this transaction; when it is empty the member holds no such coupon
    (the same conditions) and nothing is read.
    """
    now = now or utcnow()
    effects = PurchaseCouponEffects()
    if not member.can_move_points or member.erased_at is not None or held_books == []:
        return effects
    rows = session.execute(
        select(CouponUsage, CouponBook).join(CouponBook, CouponBook.id == CouponUsage.book_id)
        .where(CouponUsage.member_id == member.id, CouponUsage.kind == ASSIGN, CouponUsage.state == ASSIGNED,
               CouponUsage.reverted_at.is_(None), CouponBook.type.in_((EXTRAPOINT, MULTIPLIER)),
               CouponBook.publishing_status == PUBLISHED)
        .order_by(CouponUsage.expires_at.is_(None), CouponUsage.expires_at, CouponUsage.id)).all()
    if not rows:
        return effects
    # Asked only when a coupon needs it: most purchases hold no such coupon.
    first = (_first_purchase(session, member, purchase)
             if any((book.condition or {}).get("firstPurchaseOnly") for _, book in rows) else None)
    chosen: dict[int, tuple[CouponUsage, CouponBook]] = {}
    for assignment, book in rows:
        if book.id in chosen or not _qualifies(session, member, book, assignment, purchase, qualifies, now, first):
            continue
        chosen[book.id] = (assignment, book)
    extra = [pair for pair in chosen.values() if pair[1].type == EXTRAPOINT]
    multipliers = sorted((pair for pair in chosen.values() if pair[1].type == MULTIPLIER),
                         key=lambda pair: (-Decimal(pair[1].discount_amount), pair[0].id))
    candidates = sorted(extra + multipliers[:1], key=lambda pair: (pair[0].expires_at is None,
                                                                   pair[0].expires_at or now, pair[0].id))
    if not candidates:
        return effects
    earlier, earlier_alone = _coupons_on_purchase(session, member, purchase.external_id)
    kept: list[tuple[CouponUsage, CouponBook]] = []
    for assignment, book in candidates:
        alone = not conditions.is_combinable(book.condition)
        if (alone and (earlier or kept)) or earlier_alone or any(
                not conditions.is_combinable(b.condition) for _, b in kept):
            continue
        kept.append((assignment, book))
    for assignment, book in kept:
        usage_id = None
        if not dry_run:
            try:
                with session.begin_nested():
                    usage, _, _ = _use(session, member, book, actor=actor, code=None, key=system_unique_key,
                                    place=purchase.place, custom_attributes={"purchase": purchase.external_id},
                                    now=now, manual=False, assignment_id=assignment.id, purchase=purchase)
                usage_id = usage.id
            except CouponBusy:
                raise
            except (CouponRefused, InsufficientBalance):
                continue  # used or reverted meanwhile (seen after waiting for its row): it no longer applies
        value = Decimal(book.discount_amount)
        if book.type == EXTRAPOINT:
            effects.extra_points += int(value)
        else:
            effects.multiplier = value
        effects.applied.append(AppliedCoupon(book_id=book.id, type=book.type, value=value,
                                             assignment_id=assignment.id, usage_id=usage_id))
    return effects


# The books of a member's automatic coupons (lock_purchase_coupons): built once, the member bound by name.
_PURCHASE_COUPON_BOOKS = select(CouponBook).where(
    CouponBook.id.in_(select(CouponUsage.book_id).where(
        CouponUsage.member_id == bindparam("member_id"), CouponUsage.kind == ASSIGN, CouponUsage.state == ASSIGNED,
        CouponUsage.reverted_at.is_(None))),
    CouponBook.type.in_((EXTRAPOINT, MULTIPLIER)), CouponBook.publishing_status == PUBLISHED).order_by(CouponBook.id)


def lock_purchase_coupons(session: Session, member: Member) -> list[CouponBook]:
    """Lock the member's (member, book) rows of the automatic coupons they hold, in book order; returns their
    books (for `apply_purchase_coupons`: none held, nothing more to read).

    A purchase confirmation calls this before it moves any points (paying with
    points burns from the wallet before the earning engine runs), so that it
    keeps the lock order, coupon rows before wallets, and two purchases of one
    member take the rows in the same order. Waits as lock_account_coupon does.
    """
    books = session.scalars(_PURCHASE_COUPON_BOOKS, {"member_id": member.id}).all()
    for book in books:
        lock_account_coupon(session, member, book)
    return list(books)


# --- checks shared with the read side -----------------------------------------------------

def assignment_refusal(session: Session, member: Member, book: CouponBook,
                       now: dt.datetime | None = None) -> CouponRefused | Conflict | None:
    """The rule that would refuse a claim right now, or None (for greying out a button). Writes nothing."""
    now = now or utcnow()
    try:
        _require_active(member)
        _require_assignable(book, now)
        _require_eligible(session, member, book, now)
        account = find_account_coupon(session, member.id, book.id)
        _precheck_new_assignment(session, member, book, account, book.assignment_required_points)
        if book.has_code_pool:
            if free_code_count(session, book) == 0:
                raise CouponLimitReached("No codes are left in this coupon book", field="codes")
    except (CouponRefused, AccountNotActive, InsufficientBalance) as error:
        return error
    return None


def lock_account_coupon(session: Session, member: Member, book: CouponBook) -> AccountCoupon:
    """The (member, book) row, created on first use and locked for the rest of the transaction.

    One statement creates or locks it: an INSERT whose conflict on (book, member) turns into an UPDATE
    of the existing row, which takes its row lock on PostgreSQL (waiting for a request that holds it or is
    creating it). A row another transaction holds is waited for, at most `lock_wait` on PostgreSQL; then
    CouponBusy (503): the caller retries the whole request.
    """
    session.flush()  # the member and book rows exist before a Core statement names them
    dialect = session.get_bind().dialect.name
    stmt = statements.upsert_account(dialect)
    row = {"organization_id": book.organization_id, "book_id": book.id, "member_id": member.id,
           "public_id": account_coupon_public_id(book.organization_id, member.id, book.id)}
    if dialect != "postgresql":
        return _adopt(session, AccountCoupon, session.execute(stmt, row).one())
    # One statement reads the caller's lock_timeout and sets the bound; no savepoint: a timeout aborts the
    # transaction, and CouponBusy fails the whole request (the caller retries it), so nothing runs after it.
    # The upsert's RETURNING puts the caller's back once the row is locked (statements.upsert_account).
    previous = session.execute(text("SELECT current_setting('lock_timeout'), set_config('lock_timeout', :wait, true)"),
                               {"wait": f"{max(int(lock_wait.total_seconds() * 1000), 1)}ms"}).first()[0]
    try:
        locked = session.execute(stmt, {**row, statements.LOCK_TIMEOUT_AFTER: previous}).one()._mapping
    except OperationalError as error:
        # 55P03 lock_not_available (the timeout); 40P01 a deadlock with a caller that broke the lock order.
        if getattr(error.orig, "sqlstate", None) in ("55P03", "40P01"):
            raise CouponBusy(f"This coupon is in use by another request for more than "
                             f"{lock_wait.total_seconds():g} s; try again", field="couponBookId") from None
        raise
    return _adopt(session, AccountCoupon, {column.key: locked[column.key] for column in AccountCoupon.__table__.c})


# --- internals ----------------------------------------------------------------------------
# The hot path (a use, an assignment) writes with the Core statements of statements.py: counters by
# conditional UPDATE ... RETURNING (the new values are put on the ORM objects the caller holds, so nothing
# is read again), usage rows by INSERT ... RETURNING id (the row then joins the session as a loaded object,
# no flush).
_USAGE_DEFAULTS = {"code_id": None, "assignment_id": None, "expires_at": None, "used_at": None,
                   "system_unique_key": None, "purchase_ref": None, "location_code": None,
                   "interaction_point": None, "points_burned": 0, "ledger_transaction_id": None,
                   "custom_attributes": {}, "actor_id": None, "actor_label": "", "reverted_at": None}


def _use(session: Session, member: Member, book: CouponBook, *, actor: Actor, code: str | None, key: str | None,
         place: Place, custom_attributes: dict[str, Any] | None, now: dt.datetime, manual: bool,
         assignment_id: int | None = None,
         purchase: Purchase | None = None) -> tuple[CouponUsage, CouponUsage | None, str | None]:
    """Use a held coupon or one assigned on the spot; returns the use, the new assignment if any, and the
    text of the code a new assignment took (None otherwise)."""
    _require_active(member)
    _require_usable(book, now, manual=manual)
    _require_eligible(session, member, book, now)
    if code is not None:
        _check_code_attempts(session, member, actor)
    account = lock_account_coupon(session, member, book)
    if book.activatable and not account.activated:
        raise CouponNotActivated("Activate this coupon before using it", field="activated")
    if manual:  # the purchase path checked the condition when it chose the coupon
        _require_condition(session, member, book, purchase, place, now)
    if assignment_id is not None:
        assignment = session.get(CouponUsage, assignment_id)
        session.refresh(assignment)
    else:
        assignment = _held_assignment(session, account, code, now)
    purchase_ref = purchase.external_id if purchase is not None else None
    if assignment is None:
        _precheck_new_assignment(session, member, book, account,
                                 book.assignment_required_points + book.usage_required_points)
        new_assignment, code_text = _assign_one(session, member, book, account, actor=actor, now=now,
                                                expires_at=None, key=key, place=place,
                                                custom_attributes=custom_attributes, wanted_code=code,
                                                use_at_once=True)
        use = _write_use(session, member, book, account, new_assignment, actor=actor, now=now, key=key,
                         place=place, custom_attributes=custom_attributes, purchase_ref=purchase_ref)
        _announce(session, member, book, actor, [(new_assignment, code_text), (use, code_text)])
        return use, new_assignment, code_text
    use = _use_assignment(session, member, book, account, assignment, actor=actor, now=now, key=key, place=place,
                          custom_attributes=custom_attributes, purchase_ref=purchase_ref)
    return use, None, None


def _held_assignment(session: Session, account: AccountCoupon, code: str | None,
                     now: dt.datetime) -> CouponUsage | None:
    """The member's coupon to use: the one with `code`, else the one expiring first."""
    if account.assigned_count == 0:
        return None  # the count of the member's live assignments (models.py): they hold none, used or not
    if code is not None:
        row = session.execute(statements.HELD_CODE, {"account_id": account.id, "variants": _code_variants(code)}).first()
        if row is None:
            return None
        held = _adopt(session, CouponUsage, row)
        # The member's own code: telling them why is no leak.
        if held.state == USED:
            raise CouponAlreadyUsed("This coupon was already used", field="code")
        if held.expires_at is not None and held.expires_at <= now:
            raise CouponExpired("This coupon has expired", field="expiredAt")
        return held
    stmt = select(CouponUsage).where(CouponUsage.account_coupon_id == account.id, CouponUsage.kind == ASSIGN,
                                     CouponUsage.reverted_at.is_(None))
    return session.scalars(stmt.where(CouponUsage.state == ASSIGNED)
                           .where((CouponUsage.expires_at.is_(None)) | (CouponUsage.expires_at > now))
                           .order_by(CouponUsage.expires_at.is_(None), CouponUsage.expires_at, CouponUsage.id)).first()


def _precheck_new_assignment(session: Session, member: Member, book: CouponBook, account: AccountCoupon | None,
                             points_needed: int) -> None:
    """Refuse a new assignment for limits and points before any code is looked up (no code enumeration).

    Only a courtesy ordering: the conditional updates in _assign_one decide.
    """
    held = account.assigned_count if account is not None else 0
    if book.max_assigned_per_member is not None and held >= book.max_assigned_per_member:
        raise _member_limit(book)
    if book.max_coupon_count is not None and book.assigned_count >= book.max_coupon_count:
        raise _global_limit()
    if points_needed > 0:
        wallet = _points_wallet(session, member, book)
        if wallet.available < points_needed:
            raise InsufficientPoints(f"This coupon needs {points_needed} points; the member has {wallet.available}",
                                     field=_points_field(book))


def _assign_one(session: Session, member: Member, book: CouponBook, account: AccountCoupon, *, actor: Actor,
                now: dt.datetime, expires_at: dt.datetime | None, key: str | None, place: Place,
                custom_attributes: dict[str, Any] | None, wanted_code: str | None = None,
                use_at_once: bool = False) -> tuple[CouponUsage, str | None]:
    """A new assignment (and the text of its code): the member's, the book's and the code's counts go up by
    conditional UPDATEs in the lock order, each deciding its limit. With `use_at_once` the assignment is
    counted as used too and written in state used (the caller writes its use and announces both);
    otherwise it is announced here."""
    limited = book.max_assigned_per_member is not None
    counts = session.execute(statements.account_assigned(limited=limited, used=use_at_once),
                             {"account_id": account.id, "max_per_member": book.max_assigned_per_member}
                             if limited else {"account_id": account.id}).first()
    if counts is None:
        raise _member_limit(book)
    _loaded(account, counts)
    counts = session.execute(statements.book_assigned(used=use_at_once), {"book_id": book.id}).first()
    if counts is None:
        raise _global_limit()
    _loaded(book, counts)
    code_id = code_text = None
    if book.has_code_pool:
        code_id, code_text = _take_code(session, book, wanted_code, used=use_at_once)
    elif wanted_code is not None:
        raise CouponCodeNotUsable()
    assignment = _write_usage(session, organization_id=book.organization_id, book_id=book.id, member_id=member.id,
                              account_coupon_id=account.id, code_id=code_id, kind=ASSIGN,
                              state=USED if use_at_once else ASSIGNED, used_at=now if use_at_once else None,
                              expires_at=expires_at, system_unique_key=key, location_code=place.location_code,
                              interaction_point=place.interaction_point, custom_attributes=custom_attributes or {},
                              actor_kind=actor.kind, actor_id=actor.id, actor_label=actor.label, created_at=now)
    if book.assignment_required_points:
        _burn(session, member, book, book.assignment_required_points, assignment, actor=actor,
              what="assignment", field="assignmentRequiredPoints")
    if not use_at_once:
        _announce(session, member, book, actor, [(assignment, code_text)])
    return assignment, code_text


def _take_code(session: Session, book: CouponBook, wanted: str | None, *, used: bool = False) -> tuple[int, str]:
    """Claim a code of the pool, (id, text): the named one if it is free, else the oldest free one; `used`
    counts it as used too."""
    limited = book.max_assigned_per_coupon is not None
    room = {"now": utcnow(), "of_book": book.id}
    if limited:
        room["max_per_code"] = book.max_assigned_per_coupon
    if wanted is not None:
        variants = _code_variants(wanted)
        # The code as typed if the book has it, else its upper-case form; found and taken in one statement.
        taken = session.execute(statements.take_code(named=True, limited=limited, used=used),
                                {**room, "variants": variants, "typed": variants[0]}).first()
        if taken is None:
            raise CouponCodeNotUsable()
        return tuple(taken)
    for _ in range(50):
        # Skip codes other transactions are taking; if all are busy, queue behind one.
        code_id = (session.scalar(statements.free_code(limited=limited, skip_locked=True), room)
                   or session.scalar(statements.free_code(limited=limited, skip_locked=False), room))
        if code_id is None:
            raise CouponLimitReached("No codes are left in this coupon book", field="codes")
        taken = session.execute(statements.take_code(named=False, limited=limited, used=used),
                                {**room, "code_id": code_id}).first()
        if taken is not None:
            return tuple(taken)
    raise CouponLimitReached("No codes are left in this coupon book", field="codes")


def _use_assignment(session: Session, member: Member, book: CouponBook, account: AccountCoupon,
                    assignment: CouponUsage, *, actor: Actor, now: dt.datetime, key: str | None, place: Place,
                    custom_attributes: dict[str, Any] | None, purchase_ref: str | None = None) -> CouponUsage:
    """Use a coupon the member held: the assignment moves assigned -> used by a conditional UPDATE (which
    decides: one use per assignment), the counts go up, the use row is written and announced."""
    if assignment.expires_at is not None and assignment.expires_at <= now:
        raise CouponExpired("This coupon has expired", field="expiredAt")
    code_text = None
    if assignment.code_id is not None:
        code = session.get(CouponCode, assignment.code_id)
        refusal = _code_refusal(code, now)
        if refusal is not None:
            raise refusal
        code_text = code.code
    _loaded(account, session.execute(statements.ACCOUNT_USED, {"account_id": account.id}).one())
    _loaded(book, session.execute(statements.BOOK_USED, {"book_id": book.id}).one())
    if assignment.code_id is not None:
        _loaded(code, session.execute(statements.CODE_USED, {"code_id": assignment.code_id}).one())
    moved = session.execute(statements.ASSIGNMENT_USED, {"usage_id": assignment.id, "now": now}).first()
    if moved is None:
        raise CouponAlreadyUsed("This coupon was already used", field="code")
    _loaded(assignment, moved)
    # The conditional UPDATE above lets one use per assignment through; the partial unique index
    # (uq_coupon_usages_one_live_use) stands behind it.
    use = _write_use(session, member, book, account, assignment, actor=actor, now=now, key=key, place=place,
                     custom_attributes=custom_attributes, purchase_ref=purchase_ref)
    _announce(session, member, book, actor, [(use, code_text)])
    return use


def _write_use(session: Session, member: Member, book: CouponBook, account: AccountCoupon,
               assignment: CouponUsage, *, actor: Actor, now: dt.datetime, key: str | None, place: Place,
               custom_attributes: dict[str, Any] | None, purchase_ref: str | None) -> CouponUsage:
    """The use row of an assignment already moved to used, and the points it costs."""
    use = _write_usage(session, organization_id=book.organization_id, book_id=book.id, member_id=member.id,
                       account_coupon_id=account.id, code_id=assignment.code_id, kind=USE, state=USED,
                       assignment_id=assignment.id, used_at=now, system_unique_key=key, purchase_ref=purchase_ref,
                       location_code=place.location_code, interaction_point=place.interaction_point,
                       custom_attributes=custom_attributes or {}, actor_kind=actor.kind, actor_id=actor.id,
                       actor_label=actor.label, created_at=now)
    if book.usage_required_points:
        _burn(session, member, book, book.usage_required_points, use, actor=actor, what="use",
              field="usageRequiredPoints")
    return use


def _write_usage(session: Session, **values: Any) -> CouponUsage:
    """Insert a usage row (one Core INSERT ... RETURNING id) and hand it back as a loaded object of the session."""
    row = {**_USAGE_DEFAULTS, **values}
    usage = CouponUsage(**row, id=session.execute(statements.INSERT_USAGE, row).scalar_one())
    adopt_inserted(session, usage)  # leaves the session if its savepoint is undone (tests/domain/test_coupons.py)
    return usage


def _announce(session: Session, member: Member, book: CouponBook, actor: Actor,
              usages: list[tuple[CouponUsage, str | None]]) -> None:
    """The outbox events and audit entries of new assignments and uses (with their code's text), one
    statement for each kind however many."""
    events = []
    for usage, code_text in usages:
        if usage.kind == ASSIGN:
            events.append(outbox.event_row(book.organization_id, "coupon-code-assigned", member_id=member.id,
                                           couponBookId=book.id, couponUsageId=usage.id, couponCodeId=usage.code_id,
                                           code=code_text))
        else:
            events.append(outbox.event_row(book.organization_id, "coupon-code-used", member_id=member.id,
                                           couponBookId=book.id, couponUsageId=usage.id,
                                           assignmentId=usage.assignment_id, couponCodeId=usage.code_id,
                                           code=code_text, locationCode=usage.location_code,
                                           interactionPoint=usage.interaction_point))
    outbox.insert_events(session, events)
    audit.record_many(session, actor, [("coupon.assigned" if usage.kind == ASSIGN else "coupon.used", usage)
                                       for usage, _ in usages],
                      couponBookId=lambda usage: usage.book_id, memberId=lambda usage: usage.member_id,
                      pointsBurned=lambda usage: usage.points_burned)


def _adopt(session: Session, model: type, row) -> Any:
    """The session's object for a row a Core statement read or upserted (a Row, or a mapping, of all the model's
    columns), as if the ORM had loaded it: the one the session holds, its attributes set to the row's, or a new
    one joined to the session. No statement; nothing to flush. (A row the statement certainly inserted:
    base.adopt_inserted.)"""
    values = row._mapping if hasattr(row, "_mapping") else row
    held = session.identity_map.get(identity_key(model, values["id"]))
    if held is not None:
        _loaded(held, values)
        return held
    obj = model(**values)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def _loaded(row: Any, values) -> None:
    """Put the values a statement returned (column name -> value) on the ORM object as loaded (expired again
    if the savepoint that wrote them rolls back: base.adopt_updated)."""
    for name, value in (values.items() if hasattr(values, "items") else values._mapping.items()):
        set_committed_value(row, name, value)
    adopt_updated(row)


def _revert_use(session: Session, book: CouponBook, account: AccountCoupon, use: CouponUsage, *,
                actor: Actor) -> CouponUsage:
    now = utcnow()
    if not _changed(session, update(CouponUsage).where(CouponUsage.id == use.id, CouponUsage.reverted_at.is_(None))
                    .values(state=REVERTED, reverted_at=now)):
        raise AlreadyResolved("This coupon use was already reverted", field="couponUsageId")
    session.execute(update(AccountCoupon).where(AccountCoupon.id == account.id)
                    .values(used_count=AccountCoupon.used_count - 1).execution_options(synchronize_session=False))
    session.execute(update(CouponBook).where(CouponBook.id == book.id)
                    .values(used_count=CouponBook.used_count - 1).execution_options(synchronize_session=False))
    if use.code_id is not None:
        session.execute(update(CouponCode).where(CouponCode.id == use.code_id)
                        .values(used_count=CouponCode.used_count - 1).execution_options(synchronize_session=False))
    session.execute(update(CouponUsage).where(CouponUsage.id == use.assignment_id, CouponUsage.state == USED)
                    .values(state=ASSIGNED, used_at=None).execution_options(synchronize_session=False))
    _refund(session, use, actor=actor)
    session.expire(use)
    if use.assignment_id:
        session.expire(session.get(CouponUsage, use.assignment_id))
    audit.record(session, actor, "coupon.use_reverted", use, couponBookId=book.id, memberId=use.member_id)
    _expire_counters(session, book, account)
    return use


def _revert_assignment(session: Session, book: CouponBook, account: AccountCoupon, assignment: CouponUsage, *,
                       actor: Actor) -> CouponUsage:
    if not _changed(session, update(CouponUsage).where(CouponUsage.id == assignment.id,
                                                       CouponUsage.state == ASSIGNED,
                                                       CouponUsage.reverted_at.is_(None))
                    .values(state=REVERTED, reverted_at=utcnow())):
        raise AlreadyResolved("This coupon assignment was already reverted", field="couponUsageId")
    session.execute(update(AccountCoupon).where(AccountCoupon.id == account.id)
                    .values(assigned_count=AccountCoupon.assigned_count - 1)
                    .execution_options(synchronize_session=False))
    session.execute(update(CouponBook).where(CouponBook.id == book.id)
                    .values(assigned_count=CouponBook.assigned_count - 1)
                    .execution_options(synchronize_session=False))
    if assignment.code_id is not None:
        session.execute(update(CouponCode).where(CouponCode.id == assignment.code_id)
                        .values(assigned_count=CouponCode.assigned_count - 1)
                        .execution_options(synchronize_session=False))
    _refund(session, assignment, actor=actor)
    session.expire(assignment)
    audit.record(session, actor, "coupon.assignment_reverted", assignment, couponBookId=book.id,
                 memberId=assignment.member_id)
    _expire_counters(session, book, account)
    return assignment


def _burn(session: Session, member: Member, book: CouponBook, amount: int, usage: CouponUsage, *, actor: Actor,
          what: str, field: str) -> None:
    account = _points_account(session, book)
    wallet = ledger.member_wallet(session, account, member.id)
    reason = Reason(description=f"Coupon {book.name} ({what})", tags=["coupon"],
                    external_id=f"couponUsage:{usage.id}", system_unique_key=usage.system_unique_key)
    try:
        tx = ledger.burn(session, account, wallet, amount, actor=actor, reason=reason)
    except InsufficientBalance:
        raise InsufficientPoints(f"This coupon needs {amount} points; the member has fewer", field=field) from None
    usage.points_burned = amount
    usage.ledger_transaction_id = tx.id
    session.flush()
    audit.record(session, actor, "ledger.burned", tx, amount=amount, ledgerAccountId=tx.ledger_account_id)


def _refund(session: Session, usage: CouponUsage, *, actor: Actor) -> None:
    if usage.ledger_transaction_id is None:
        return
    tx = session.get(LedgerTransaction, usage.ledger_transaction_id)
    refund = ledger.revert(session, tx, actor=actor,
                           reason=Reason(description=f"Refund for reverted coupon usage {usage.id}",
                                         tags=["coupon"], external_id=f"couponUsage:{usage.id}"))
    audit.record(session, actor, "ledger.reverted", refund, amount=refund.amount,
                 ledgerAccountId=refund.ledger_account_id)


def _qualifies(session: Session, member: Member, book: CouponBook, assignment: CouponUsage, purchase: Purchase,
               qualifies, now: dt.datetime, first_purchase: bool | None) -> bool:
    if (book.valid_from and now < book.valid_from) or (book.valid_to and now >= book.valid_to):
        return False
    if assignment.expires_at is not None and assignment.expires_at <= now:
        return False
    if assignment.code_id is not None and _code_refusal(session.get(CouponCode, assignment.code_id), now) is not None:
        return False
    if book.activatable:
        account = session.get(AccountCoupon, assignment.account_coupon_id)
        if not account.activated:
            return False
    basket = _basket(session, member, purchase, purchase.place, now, first_purchase)
    if conditions.check(book.condition, basket) is not None:  # combinability is settled by the caller
        return False
    try:
        _require_eligible(session, member, book, now)
    except CouponRefused:
        return False
    return qualifies(book, purchase) if qualifies is not None else True


def _basket(session: Session, member: Member, purchase: Purchase | None, place: Place, now: dt.datetime,
            first_purchase: bool | None, *, on_purchase: tuple[int, bool] = (0, False)) -> conditions.Basket:
    organization = session.get(Organization, member.organization_id)
    return conditions.Basket(total=purchase.total if purchase is not None else None,
                             items=purchase.items if purchase is not None else [],
                             location_code=place.location_code, at=now,
                             timezone=getattr(organization, "timezone", None) or "UTC",
                             first_purchase=first_purchase, other_coupons=on_purchase[0],
                             other_not_combinable=on_purchase[1])


def _require_condition(session: Session, member: Member, book: CouponBook, purchase: Purchase | None,
                       place: Place, now: dt.datetime) -> None:
    """A use at the till: the book's condition must hold for the purchase given, the place and `now`."""
    if not book.condition:
        return
    first = _first_purchase(session, member, purchase) if book.condition.get("firstPurchaseOnly") else None
    on_purchase = _coupons_on_purchase(session, member, purchase.external_id if purchase else None)
    refusal = conditions.check(book.condition, _basket(session, member, purchase, place, now, first,
                                                       on_purchase=on_purchase))
    if refusal is not None:
        raise refusal


def _first_purchase(session: Session, member: Member, purchase: Purchase | None) -> bool:
    """True when the member has no confirmed purchase other than this one (by its externalId)."""
    if purchase is not None and purchase.first_purchase is not None:
        return purchase.first_purchase
    from ..orders import CONFIRMED, PARTIALLY_RETURNED, PurchaseOrder

    stmt = select(func.count()).select_from(PurchaseOrder).where(
        PurchaseOrder.member_id == member.id, PurchaseOrder.status.in_((CONFIRMED, PARTIALLY_RETURNED)))
    if purchase is not None and purchase.external_id:
        stmt = stmt.where(PurchaseOrder.external_id != purchase.external_id)
    return not session.scalar(stmt)


def _coupons_on_purchase(session: Session, member: Member, purchase_ref: str | None) -> tuple[int, bool]:
    """How many coupons the member already used on this purchase, and whether one of them stands alone."""
    if not purchase_ref:
        return 0, False
    used = session.execute(select(CouponBook.condition).join(CouponUsage, CouponUsage.book_id == CouponBook.id)
                           .where(CouponUsage.member_id == member.id, CouponUsage.purchase_ref == purchase_ref,
                                  CouponUsage.kind == USE, CouponUsage.reverted_at.is_(None))).scalars().all()
    return len(used), any(not conditions.is_combinable(c) for c in used)


def _code_refusal(code: CouponCode, now: dt.datetime) -> CouponRefused | None:
    if not code.active:
        return CouponCodeInactive("This coupon code was switched off", field="code")
    if code.expires_at is not None and code.expires_at <= now:
        return CouponExpired("This coupon code has expired", field="expiredAt")
    return None


def _require_active(member: Member) -> None:
    if not member.can_move_points or member.erased_at is not None:
        raise AccountNotActive("The member's account is not active", field="memberId")


def _require_assignable(book: CouponBook, now: dt.datetime) -> None:
    if book.publishing_status != PUBLISHED:
        raise CouponNotPublished(f"This coupon book is {book.publishing_status}, not published",
                                 field="publishingStatus")
    if book.valid_to is not None and now >= book.valid_to:
        raise CouponExpired(f"This coupon book ended at {isoformat(book.valid_to)}", field="validToDate")


def _require_usable(book: CouponBook, now: dt.datetime, *, manual: bool) -> None:
    _require_assignable(book, now)
    if book.valid_from is not None and now < book.valid_from:
        raise CouponNotYetValid(f"This coupon is valid from {isoformat(book.valid_from)}", field="validFromDate")
    if manual and book.is_automatic:
        raise CouponManualUseNotAllowed(f"{book.type} coupons apply automatically with a qualifying purchase",
                                        field="type")


def _require_eligible(session: Session, member: Member, book: CouponBook, now: dt.datetime) -> None:
    if book.audience_keys:
        from .. import audiences

        if not audiences.member_audiences(session, member, names=list(book.audience_keys)):
            names = ", ".join(f"'{key}'" for key in book.audience_keys)
            raise CouponNotInAudience(f"This coupon is for members of the audience {names}", field="audienceKeys")
    if not book.tiers:
        return
    state = session.scalars(select(MemberTier).where(MemberTier.member_id == member.id,
                                                     MemberTier.loyalty_program_id == book.loyalty_program_id)).first()
    current = state.tier_id if state and (state.expires_at is None or state.expires_at > now) else None
    if current is None or str(current) not in book.tiers:
        raise CouponNotEligible("This coupon is for members of other tiers", field="tiers")


def _points_account(session: Session, book: CouponBook) -> LedgerAccount:
    program = session.get(LoyaltyProgram, book.loyalty_program_id)
    return session.get(LedgerAccount, program.points_account_id)


def _points_wallet(session: Session, member: Member, book: CouponBook):
    account = _points_account(session, book)
    wallet = session.scalars(select(ledger.Wallet).where(ledger.Wallet.ledger_account_id == account.id,
                                                         ledger.Wallet.member_id == member.id)).first()
    return wallet or ledger.Wallet(balance=0, held=0)


def _points_field(book: CouponBook) -> str:
    return "usageRequiredPoints" if book.usage_required_points else "assignmentRequiredPoints"


def _member_limit(book: CouponBook) -> CouponLimitReached:
    return CouponLimitReached(f"The member already has the {book.max_assigned_per_member} coupon(s) of this book "
                              f"a member may get", field="maxAssignedPerMember")


def _global_limit() -> CouponLimitReached:
    return CouponLimitReached("All coupons of this book have been handed out", field="maxCouponCount")


def _changed(session: Session, stmt) -> bool:
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount == 1


def _expire_counters(session: Session, book: CouponBook, account: AccountCoupon) -> None:
    session.expire(book, ["assigned_count", "used_count"])
    session.expire(account, ["assigned_count", "used_count"])


def _code_variants(code: str) -> list[str]:
    code = code.strip()
    return list(dict.fromkeys([code, code.upper()]))


def _code_counts(member: Member, actor: Actor) -> list[tuple[str, str, str, str]]:
    """(scope, key, limit name, message) of every count a refused code goes to. A member
    acting for themselves is counted as the member; a key or staff user also by itself and in
    the organisation's count (members are not, so they cannot use it up for the tills)."""
    counts = [(CODE_SCOPE, f"{member.organization_id}:{member.id}", "code-member",
               "Too many codes were refused for this member; try again later")]
    if actor.kind != "member":
        counts += [(CODE_ACTOR_SCOPE, f"{member.organization_id}:{actor.kind}:{actor.id}", "code-actor",
                    "Too many codes were refused for this API key or user; try again later"),
                   (CODE_ORGANIZATION_SCOPE, str(member.organization_id), "code-organization",
                    "Too many codes were refused in this organisation; try again later")]
    return counts


def _check_code_attempts(session: Session, member: Member, actor: Actor) -> None:
    throttle.check_limits(session, _code_counts(member, actor))


def _place_params(place: Place) -> dict:
    return {"locationCode": place.location_code, "interactionPoint": place.interaction_point}


def _combined_key(prefix: str, keys: list[str]) -> str | None:
    if not keys:
        return None
    if len(keys) == 1:
        return keys[0]
    return f"{prefix}:" + hashlib.sha256("\x1f".join(keys).encode()).hexdigest()


def _once(session: Session, organization_id: int, key: str | None, operation: str, params: dict,
          perform: Callable[[], CouponResult]) -> CouponResult:
    """`perform` once per key: its result as it is, or on a replay the usages the first run stored (by id)."""
    done: list[CouponResult] = []

    def run() -> dict:
        done.append(perform())
        return {"couponUsageIds": [usage.id for usage in done[0].usages]}

    outcome = idempotency.run_once(session, organization_id, key, operation, params, run)
    if done:
        return done[0]
    return CouponResult(usages_by_ids(session, outcome.result.get("couponUsageIds", [])), replayed=True)
