"""Coupon books, codes, assign/use/revert, a member's coupons, and the point-of-sale routes (Convercus).

Handlers translate: parse, call one domain function, shape the answer. The
rules live in portal.domain.coupons.
"""
from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Callable

from flask import request
from sqlalchemy import select

from ..domain import coupons, members, organizations, partners, throttle
from ..domain.coupons import CouponBook, CouponCode, CouponUsage
from ..domain.errors import ValidationFailed
from ..extensions import db
from .core import Call, endpoint, ok, page_payload, page_response
from .schemas import coupons as s
from .members import resolve_member

ORG = "/organizations/<int:organizationId>"
BOOKS = f"{ORG}/coupon-books"
BOOK = f"{BOOKS}/<int:bookId>"
MEMBER_IN_PROGRAM = f"{ORG}/loyalty-programs/<int:loyaltyProgramId>/members/<memberId>"
ACCOUNT_COUPON = f"{ORG}/account-coupons/<accountCouponId>"
BOOK_ORDER = {"createdAt": CouponBook.created_at, "id": CouponBook.id, "name": CouponBook.name,
              "rankingIndex": CouponBook.ranking_index, "validToDate": CouponBook.valid_to}
CODE_ORDER = {"createdAt": CouponCode.created_at, "id": CouponCode.id, "code": CouponCode.code}
USAGE_ORDER = {"createdAt": CouponUsage.created_at, "id": CouponUsage.id}
# Body field -> domain field, where they differ.
RENAMED = {"valid_from_date": "valid_from", "valid_to_date": "valid_to"}
NOT_BOOK_FIELDS = {"description", "subtitle"}


PURCHASE_ORDER_OF_COUPONS = (
    "EXTRAPOINT and MULTIPLIER coupons apply by themselves when a purchase order is confirmed, in this order: "
    "1. the member's coupons the purchase qualifies for (published, current, tier, audienceKeys, activation, "
    "condition) are used, before any points move; one per EXTRAPOINT book, of the multipliers only the highest; "
    "2. the campaigns award their points; 3. the coupons add floor(campaign points x multiplier) - campaign "
    "points + extra points, as one ledger line. So a x2 coupon doubles what the campaigns gave for the purchase, "
    "and extra points are not multiplied. A coupon another request is using is waited for; if it stays busy the "
    "purchase fails with 503 `coupon-busy` and nothing is earned: retry it with the same systemUniqueKey.")


# --- coupon books -------------------------------------------------------------------------

@endpoint(BOOKS, role="coupons:read", query=s.CouponBookListQuery, response=s.CouponBookPage, tag="Coupons",
          summary="List coupon books (status, tags, search, programme, audience)")
def list_books(call: Call):
    q: s.CouponBookListQuery = call.query
    stmt = coupons.books_query(call.organization_id, status=q.status, tags=_split_list(q.tags), search=q.search,
                               loyalty_program_id=q.loyalty_program_id, audience=q.audiences)
    return page_response(call, stmt, s.CouponBookPage, lambda b: book_out(call.session, b, q.locale),
                         orders=BOOK_ORDER)


@endpoint(BOOKS, "POST", role="coupons:write", body=s.CouponBookIn, response=s.CouponBookEnvelope, status=201,
          tag="Coupons", summary="Create a coupon book (draft unless publishingStatus says otherwise)",
          description=PURCHASE_ORDER_OF_COUPONS)
def create_book(call: Call):
    body: s.CouponBookIn = call.body
    fields = _book_fields(call, body, None)
    book = coupons.create_book(call.session, call.organization_id, actor=call.actor, name=fields.pop("name"),
                               type=body.type, **fields)
    return ok(s.CouponBookEnvelope(coupon_book=book_out(call.session, book)).dump(), 201)


@endpoint(BOOK, role="coupons:read", query=s.LocaleQuery, response=s.CouponBookEnvelope, tag="Coupons",
          summary="Get a coupon book, texts in ?locale=")
def get_book(call: Call, bookId: int):
    book = coupons.get_book(call.session, call.organization_id, bookId)
    return ok(s.CouponBookEnvelope(coupon_book=book_out(call.session, book, call.query.locale)).dump())


@endpoint(BOOK, "PATCH", role="coupons:write", body=s.CouponBookUpdate, response=s.CouponBookEnvelope,
          tag="Coupons", summary="Change a coupon book: publish, disable, archive, limits, texts")
def update_book(call: Call, bookId: int):
    book = coupons.get_book(call.session, call.organization_id, bookId)
    book = coupons.update_book(call.session, book, actor=call.actor, **_book_fields(call, call.body, book))
    return ok(s.CouponBookEnvelope(coupon_book=book_out(call.session, book)).dump())


# --- codes --------------------------------------------------------------------------------

@endpoint(f"{BOOK}/codes", role="coupons:read", query=s.CouponCodeListQuery, response=s.CouponCodePage,
          tag="Coupons", summary="The book's code pool, paginated (status free|assigned|used)")
def list_codes(call: Call, bookId: int):
    q: s.CouponCodeListQuery = call.query
    book = coupons.get_book(call.session, call.organization_id, bookId)
    return page_response(call, coupons.codes_query(book, status=q.status, code=q.code), s.CouponCodePage,
                         lambda c: code_out(book, c), orders=CODE_ORDER, default="id,asc")


@endpoint(f"{BOOK}/codes", "POST", role="coupons:write", body=s.CouponCodesIn, response=s.CouponCodesAdded,
          status=201, tag="Coupons",
          summary="Add codes: {codes: [...]} imports (all or nothing), {generate: {count, prefix?, length?}} draws")
def add_codes(call: Call, bookId: int):
    body: s.CouponCodesIn = call.body
    book = coupons.get_book(call.session, call.organization_id, bookId)
    if (body.codes is None) == (body.generate is None):
        raise ValidationFailed("Give either codes or generate", field="codes")
    if body.generate is not None:
        added = coupons.generate_codes(call.session, book, body.generate.count, actor=call.actor,
                                       prefix=body.generate.prefix, length=body.generate.length)
    else:
        added = coupons.import_codes(call.session, book, body.codes, actor=call.actor).added
    return ok(s.CouponCodesAdded(coupon_book_id=book.id, added=len(added), codes=added).dump(), 201)


@endpoint(f"{BOOK}/codes/<int:couponId>", role="coupons:read", response=s.CouponCodeEnvelope, tag="Coupons",
          summary="One code of the pool")
def get_code(call: Call, bookId: int, couponId: int):
    book = coupons.get_book(call.session, call.organization_id, bookId)
    return ok(s.CouponCodeEnvelope(coupon_code=code_out(book, coupons.get_code(call.session, book, couponId))).dump())


@endpoint(f"{BOOK}/codes/<int:couponId>", "PATCH", role="coupons:write", body=s.CouponCodeUpdate,
          response=s.CouponCodeEnvelope, tag="Coupons",
          summary="Change one code: its text (never handed out), active, its own expiry, or who holds it")
def update_code(call: Call, bookId: int, couponId: int):
    body: s.CouponCodeUpdate = call.body
    book = coupons.get_book(call.session, call.organization_id, bookId)
    code = coupons.get_code(call.session, book, couponId)
    given = {name: getattr(body, name) for name in body.model_fields_set}
    fields = {"text": given["code"]} if "code" in given else {}
    fields.update({name: given[name] for name in ("active",) if name in given})
    if "expired_at" in given:
        fields["expires_at"] = given["expired_at"]
    if "member_id" in given:
        fields["member"] = (None if given["member_id"] is None
                            else members.get_member(call.session, call.organization_id, given["member_id"]))
    if fields.get("active", True) is None or ("text" in fields and fields["text"] is None):
        raise ValidationFailed("Give a value, not null", field="active" if "active" in fields else "code")
    coupons.update_code(call.session, book, code, actor=call.actor, **fields)
    return ok(s.CouponCodeEnvelope(coupon_code=code_out(book, code)).dump())


# --- assign, use, revert ----------------------------------------------------------------------

def code_limits() -> str:
    """The code-guessing limits as configured, for the OpenAPI description of the routes that take codes."""
    member, key, org = (throttle.LIMITS[name] for name in ("code-member", "code-actor", "code-organization"))
    hours = int(member.window.total_seconds() // 3600)
    return (f"Naming codes is limited against guessing: refused codes are counted per member ({member.attempts}), "
            f"per API key or staff user ({key.attempts}) and per organisation ({org.attempts}, keys and staff "
            f"together) within {hours} hour{'s' if hours != 1 else ''}; past any of these, every request naming a "
            "code gets 429 (problem+json `too-many-attempts`) until older refusals fall out of the window. "
            "Requests without a code are not limited.")


# Assign and use: both may name codes, so both are limited against guessing; both are idempotent by
# systemUniqueKey and answer with the usages they made.
code_route = partial(endpoint, method="POST", role="coupons:write", response=s.CouponUsagesOut, status=201,
                     tag="Coupons", idempotent=True, description=code_limits, throttled=True)


@code_route(f"{BOOK}/assign", body=s.AssignIn,
            summary="Assign one or numberOfCodes coupons to a member (strictMode: all or none)")
def assign(call: Call, bookId: int):
    body: s.AssignIn = call.body
    return _member_book_action(call, bookId, body.member_id, lambda member, book: coupons.assign_coupons(
        call.session, member, book, actor=call.actor, number_of_codes=body.number_of_codes,
        strict_mode=body.strict_mode, expires_at=body.expired_at, system_unique_keys=body.system_unique_keys,
        codes=body.codes, place=_place(body.location_code), custom_attributes=body.custom_attributes),
        code_given=bool(body.codes))


@code_route(f"{BOOK}/use", body=s.UseIn,
            summary="Use a member's coupon of the book (the named code, else the one expiring first)")
def use(call: Call, bookId: int):
    body: s.UseIn = call.body
    return _member_book_action(call, bookId, body.member_id, lambda member, book: coupons.use_coupon(
        call.session, member, book, actor=call.actor, code=body.code, system_unique_key=body.system_unique_key,
        place=_place(body.location_code), custom_attributes=body.custom_attributes, purchase=_purchase(body.purchase)),
        code_given=bool((body.code or "").strip()))


@endpoint(f"{ORG}/coupon-usages/<int:couponUsageId>/revert", "POST", role="coupons:write",
          response=s.CouponUsagesOut, tag="Coupons",
          summary="Revert a use (the coupon can be used again) or an assignment; refunds points")
def revert(call: Call, couponUsageId: int):
    result = coupons.revert_usage(call.session, call.organization_id, couponUsageId, actor=call.actor)
    return ok(usages_payload(call.session, result))


@endpoint(f"{BOOK}/usages", role="coupons:read", query=s.CouponUsageListQuery, response=s.CouponUsagePage,
          tag="Coupons", summary="Every assignment and use of the book")
def list_usages(call: Call, bookId: int):
    q: s.CouponUsageListQuery = call.query
    book = coupons.get_book(call.session, call.organization_id, bookId)
    stmt = coupons.usages_query(call.organization_id, book_id=book.id, member_id=q.member_id, kind=q.kind)
    return page_response(call, stmt, s.CouponUsagePage, lambda usages: usages_out(call.session, usages),
                         orders=USAGE_ORDER, whole_page=True)


# --- a member's coupons -------------------------------------------------------------------------

@endpoint(f"{MEMBER_IN_PROGRAM}/coupons", role="coupons:read", query=s.MemberCouponQuery,
          response=s.MemberCouponPage, tag="Coupons", summary="The coupons a member holds, with their state",
          member_scope=partners.COUPONS_READ)
def member_coupons(call: Call, loyaltyProgramId: int, memberId: str):
    q: s.MemberCouponQuery = call.query
    program = organizations.get_program(call.session, call.organization_id, loyaltyProgramId)
    member = resolve_member(call, memberId)
    page = coupons.member_coupons(call.session, member, loyalty_program_id=program.id, not_used_only=q.not_used_only,
                                  book_id=q.coupon_book_id, tags=_split_list(q.coupon_book_tags), code=q.coupon_code,
                                  code_id=q.coupon_code_id, page=q.page, limit=q.limit)
    results = [s.MemberCouponOut(
        id=c.assignment.id, coupon_book_id=c.book.id, coupon_code_id=c.assignment.code_id, code=c.code,
        status=c.state, usable=c.usable, activated=c.activated, account_coupon_id=c.account_coupon_id,
        expired_at=c.assignment.expires_at, assigned_at=c.assignment.created_at, used_at=c.assignment.used_at,
        coupon_book=summary_out(c.book, q.locale)) for c in page.items]
    return ok(page_payload(s.MemberCouponPage, page, results))


@endpoint(f"{MEMBER_IN_PROGRAM}/coupon-books", role="coupons:read", query=s.MemberBookQuery,
          response=s.MemberBookPage, tag="Coupons",
          summary="Published books the member may see, with what a claim would answer now",
          member_scope=partners.COUPONS_READ)
def member_books(call: Call, loyaltyProgramId: int, memberId: str):
    q: s.MemberBookQuery = call.query
    program = organizations.get_program(call.session, call.organization_id, loyaltyProgramId)
    member = resolve_member(call, memberId)
    page = coupons.offers_for_member(call.session, member, loyalty_program_id=program.id, tags=_split_list(q.tags),
                                     book_id=q.coupon_book_id, out_of_stock=q.out_of_stock, page=q.page,
                                     limit=q.limit)
    results = []
    for offer in page.items:
        refusal = offer.refusal
        results.append(s.MemberBookOut(
            **book_out(call.session, offer.book, q.locale).model_dump(),
            member_assigned_count=offer.assigned, member_used_count=offer.used, claimable=offer.claimable,
            refusal=s.RefusalOut(code=refusal.code.replace("_", "-"), title=refusal.title, detail=refusal.message,
                                 field=refusal.field) if refusal else None,
            account_coupon_id=offer.account_coupon_id))
    return ok(page_payload(s.MemberBookPage, page, results))


@endpoint(f"{MEMBER_IN_PROGRAM}/coupon-books/<int:bookId>/claim", "POST", role="coupons:write", body=s.ClaimIn,
          response=s.CouponUsagesOut, status=201, tag="Coupons", idempotent=True, member_scope=partners.COUPONS_WRITE,
          summary="The member claims one coupon of an offered book (the portal's claim button)")
def claim(call: Call, loyaltyProgramId: int, memberId: str, bookId: int):
    program = organizations.get_program(call.session, call.organization_id, loyaltyProgramId)
    member = resolve_member(call, memberId)
    book = coupons.get_book(call.session, call.organization_id, bookId, loyalty_program_id=program.id)
    result = coupons.claim_coupon(call.session, member, book, actor=call.actor,
                                  system_unique_key=call.body.system_unique_key)
    return ok(usages_payload(call.session, result), 201, replayed=result.replayed)


@endpoint(f"{MEMBER_IN_PROGRAM}/coupon-usages/count", role="coupons:read", query=s.UsageCountQuery,
          response=s.UsageCountOut, tag="Coupons", summary="How many coupons a member was assigned and used",
          member_scope=partners.COUPONS_READ)
def member_usage_count(call: Call, loyaltyProgramId: int, memberId: str):
    program = organizations.get_program(call.session, call.organization_id, loyaltyProgramId)
    member = resolve_member(call, memberId)
    counts = coupons.member_coupon_counts(call.session, member, loyalty_program_id=program.id,
                                          since=call.query.valid_from_date, until=call.query.valid_to_date)
    return ok(s.UsageCountOut(amount_used=counts["amountUsed"], amount_assigned=counts["amountAssigned"]).dump())


# --- point of sale (Convercus) ------------------------------------------------------------------

def _account_coupon_holder(call: Call, accountCouponId: str) -> int:
    """Whose account coupon this is: the one member an OAuth token may reach it for."""
    return coupons.get_account_coupon(call.session, call.organization_id, accountCouponId).member_id


@endpoint(f"{ORG}/members/<memberId>/account-coupons", role="coupons:read", response=s.AccountCouponList,
          tag="Point of sale", summary="The account's coupons for the till (memberId or id-type + identifier)",
          member_scope=partners.COUPONS_READ)
def account_coupons(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    views = coupons.account_coupons_for_member(call.session, member)
    return ok(s.AccountCouponList(results=[account_coupon_out(v) for v in views]).dump())


@endpoint(ACCOUNT_COUPON, role="coupons:read", response=s.AccountCouponEnvelope, tag="Point of sale",
          summary="One account coupon by accountCouponId (e.g. scanned from a QR code)",
          member_scope=partners.COUPONS_READ, member_of=_account_coupon_holder)
def get_account_coupon(call: Call, accountCouponId: str):
    account = coupons.get_account_coupon(call.session, call.organization_id, accountCouponId)
    return ok(s.AccountCouponEnvelope(account_coupon=account_coupon_out(
        coupons.account_coupon_view(call.session, account))).dump())


@endpoint(f"{ACCOUNT_COUPON}/activation", "PATCH", role="coupons:write", body=s.ActivationIn,
          response=s.AccountCouponEnvelope, tag="Point of sale",
          summary="Activate or deactivate an activatable coupon for the account", member_scope=partners.COUPONS_WRITE,
          member_of=_account_coupon_holder)
def set_activation(call: Call, accountCouponId: str):
    account = coupons.set_account_coupon_activation(call.session, call.organization_id, accountCouponId,
                                                    call.body.activated, actor=call.actor)
    return ok(s.AccountCouponEnvelope(account_coupon=account_coupon_out(
        coupons.account_coupon_view(call.session, account))).dump())


@endpoint(f"{ACCOUNT_COUPON}/redeem", "POST", role="coupons:write", body=s.RedeemIn, response=s.RedeemOut,
          status=201, tag="Point of sale", idempotent=True,
          summary="Redeem the account's coupon (DISCOUNT and REWARD; the others apply with purchases)")
def redeem(call: Call, accountCouponId: str):
    body: s.RedeemIn = call.body
    result = coupons.redeem_account_coupon(call.session, call.organization_id, accountCouponId, actor=call.actor,
                                           system_unique_key=body.system_unique_key,
                                           place=_place(body.location_code), purchase=_purchase(body.purchase))
    account = coupons.get_account_coupon(call.session, call.organization_id, accountCouponId)
    call.session.refresh(account)
    return ok(s.RedeemOut(account_coupon=account_coupon_out(coupons.account_coupon_view(call.session, account)),
                          coupon_usages=usages_out(call.session, result.usages, result.codes)).dump(), 201,
              replayed=result.replayed)


# --- shaping ------------------------------------------------------------------------------------------

def _member_book_action(call: Call, book_id: int, member_id: int,
                        act: Callable[[members.Member, CouponBook], coupons.CouponResult], *, code_given: bool):
    """Assign or use: `act(member, book)` answered with its coupon usages (201, or the replay).

    A refused code counts against the member although the work is undone. With a code, the code counts
    are locked first (held until the commit) and a refusal is recorded under that lock
    (db.attempt_or_record), so that of parallel guesses exactly the configured number reach the code check."""
    book = coupons.get_book(call.session, call.organization_id, book_id)
    member = members.get_member(call.session, call.organization_id, member_id)
    if not code_given:
        result = act(member, book)
        return ok(usages_payload(call.session, result), 201, replayed=result.replayed)
    coupons.serialize_code_attempts(call.session, member, actor=call.actor)
    result = db.attempt_or_record(lambda: act(member, book), coupons.CouponCodeNotUsable,
                                  lambda session: coupons.note_code_failure(session, member, actor=call.actor))
    return ok(usages_payload(call.session, result), 201, replayed=result.replayed)


def _purchase(body: s.PurchaseIn | None) -> coupons.Purchase | None:
    if body is None:
        return None
    return coupons.Purchase(total=body.total, external_id=body.external_id,
                            items=[{"sku": i.sku, "quantity": i.quantity, "unitPrice": str(i.unit_price),
                                    "category": i.product_category_code, "isDiscount": i.is_discount}
                                   for i in body.items])


def _split_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _place(location_code: str | None) -> coupons.Place:
    interaction = (request.headers.get("interaction-id") or "").strip()[:100] or None
    return coupons.Place(location_code=location_code, interaction_point=interaction)


def _book_fields(call: Call, body: s.CouponBookFields, book: CouponBook | None) -> dict:
    """The given body fields as domain fields; description and subtitle go to the default locale's texts."""
    given = body.model_fields_set
    fields = {}
    for name in given:
        if name in NOT_BOOK_FIELDS or name == "type":
            continue
        value = getattr(body, name)
        if name == "i18n":
            value = {locale: texts.model_dump(by_alias=True, exclude_none=True) for locale, texts in
                     (value or {}).items()}
        fields[RENAMED.get(name, name)] = value
    if given & NOT_BOOK_FIELDS:
        locale = fields.get("default_locale") or (book.default_locale if book else organizations.get_organization(
            call.session, call.organization_id).default_locale)
        i18n = dict(fields.get("i18n", book.i18n if book else {}) or {})
        entry = dict(i18n.get(locale, {}))
        for name in given & NOT_BOOK_FIELDS:
            if getattr(body, name) is not None:
                entry[name] = getattr(body, name)
        i18n[locale] = entry
        fields["i18n"] = i18n
    return fields


def _number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def book_out(session, book: CouponBook, locale: str | None = None) -> s.CouponBookOut:
    texts = coupons.texts(book, locale)
    return s.CouponBookOut(
        id=book.id, organization_id=book.organization_id, loyalty_program_id=book.loyalty_program_id,
        name=book.name, type=book.type, publishing_status=book.publishing_status, discount_type=book.discount_type,
        discount_amount=_number(book.discount_amount), valid_from_date=book.valid_from, valid_to_date=book.valid_to,
        max_assigned_per_member=book.max_assigned_per_member, max_assigned_per_coupon=book.max_assigned_per_coupon,
        max_coupon_count=book.max_coupon_count, assignment_required_points=book.assignment_required_points,
        usage_required_points=book.usage_required_points, activatable=book.activatable, tiers=book.tiers or [],
        audience_keys=book.audience_keys or [], tags=book.tags or [], external_id=book.external_id,
        external_reference=book.external_reference, ranking_index=book.ranking_index,
        default_locale=book.default_locale,
        i18n={loc: s.I18nTextsOut(**{("booking_text" if k == "bookingText" else k): v for k, v in entry.items()})
              for loc, entry in (book.i18n or {}).items()},
        title=texts["title"], subtitle=texts["subtitle"], description=texts["description"],
        booking_text=texts["bookingText"], picture_url=book.picture_url, detail_picture_url=book.detail_picture_url,
        condition=book.condition or {}, custom_attributes=book.custom_attributes or {},
        assigned_count=book.assigned_count, used_count=book.used_count, code_count=book.code_count,
        created_at=book.created_at, updated_at=book.updated_at)


def summary_out(book: CouponBook, locale: str | None) -> s.CouponSummary:
    texts = coupons.texts(book, locale)
    return s.CouponSummary(id=book.id, name=book.name, type=book.type, discount_type=book.discount_type,
                           discount_amount=_number(book.discount_amount), title=texts["title"],
                           subtitle=texts["subtitle"], picture_url=book.picture_url, valid_from_date=book.valid_from,
                           valid_to_date=book.valid_to, external_reference=book.external_reference,
                           tags=book.tags or [])


def code_out(book: CouponBook, code: CouponCode) -> s.CouponCodeOut:
    return s.CouponCodeOut(id=code.id, coupon_book_id=code.book_id, code=code.code,
                           status=coupons.code_status(book, code), active=code.active, expired_at=code.expires_at,
                           assigned_count=code.assigned_count,
                           used_count=code.used_count, created_at=code.created_at)


def usages_out(session, usages: list[CouponUsage], known_codes: dict[int, str] | None = None) -> list[s.CouponUsageOut]:
    """The usages as the API shows them; `known_codes` (id -> text, a CouponResult's `codes`) are not read again.
    The accountCouponId is worked out, not read: it is the same uuid5 of organisation, member and book that the
    row was created with (coupons.account_coupon_public_id)."""
    codes = dict(known_codes or {})
    code_ids = {u.code_id for u in usages if u.code_id and u.code_id not in codes}
    if code_ids:
        codes.update(session.execute(select(CouponCode.id, CouponCode.code).where(CouponCode.id.in_(code_ids))).all())
    return [s.CouponUsageOut(
        id=u.id, action="assigned" if u.kind == coupons.ASSIGN else "used", status=u.state,
        coupon_book_id=u.book_id, member_id=u.member_id, coupon_code_id=u.code_id, code=codes.get(u.code_id),
        assignment_id=u.assignment_id,
        account_coupon_id=coupons.account_coupon_public_id(u.organization_id, u.member_id, u.book_id),
        expired_at=u.expires_at,
        used_at=u.used_at, reverted_at=u.reverted_at, system_unique_key=u.system_unique_key,
        location_code=u.location_code, interaction_point=u.interaction_point, points_burned=u.points_burned,
        ledger_transaction_id=u.ledger_transaction_id, custom_attributes=u.custom_attributes or {},
        actor=s.ActorOut(kind=u.actor_kind, id=u.actor_id, label=u.actor_label), created_at=u.created_at)
        for u in usages]


def usages_payload(session, result: coupons.CouponResult) -> dict:
    return s.CouponUsagesOut(coupon_usages=usages_out(session, result.usages, result.codes)).dump()


def account_coupon_out(view: coupons.AccountCouponView) -> s.AccountCouponOut:
    book = view.book
    locales = list(book.i18n or {}) or [book.default_locale]
    i18n_fields = {}
    for locale in locales:
        texts = coupons.texts(book, locale)
        i18n_fields[locale] = s.I18nFieldsOut(title=texts["title"], subTitle=texts["subtitle"],
                                              description=texts["description"], bookingText=texts["bookingText"])
    return s.AccountCouponOut(
        account_coupon_id=view.account_coupon_id, account_id=str(view.member_id), coupon_id=book.id,
        usage_type=book.type, discount_type=book.discount_type, coupon_value=_number(coupons.coupon_value(book)),
        external_reference=book.external_reference,
        external_code=s.ExternalCodeOut(value=view.next_code) if view.next_code else None,
        max_redeem_count=book.max_assigned_per_member, max_redeem_count_global=book.max_coupon_count,
        redeem_count=view.redeem_count, redeem_count_global=book.used_count, valid_from=book.valid_from,
        valid_to=book.valid_to, i18n_fields=i18n_fields,
        images=[s.ImageOut(path=url, tags=[tag]) for url, tag in ((book.picture_url, "contentPicture"),
                                                                  (book.detail_picture_url, "detailPicture")) if url],
        custom_properties=[s.CustomPropertyOut(name=k, value=v) for k, v in (book.custom_attributes or {}).items()],
        activation=s.ActivationOut(activatable=book.activatable,
                                   activated=view.activated if book.activatable else None,
                                   last_activation_date=view.last_activation_date if book.activatable else None))
