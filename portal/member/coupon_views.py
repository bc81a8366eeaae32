"""Member portal coupons: the coupons a member holds, the coupon books they can
claim, claiming, activation, a coupon's code for the till and its PDF.

Every rule is the offers engine's (portal.domain.coupons): these views parse,
call one domain function inside one transaction, then redirect (POST) or render
(GET). A held coupon is addressed by its assignment id; another member's reads
exactly like one that does not exist (404). POSTs answer with a redirect to the
page they came from, so they work without JavaScript; with htmx the redirect is
followed and that page's own fragment comes back (`Vary: HX-Request`).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from babel.dates import get_day_names
from flask_babel import format_currency, format_decimal, format_number, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..domain import self_service, cards, coupons, members
from ..domain.context import WEEKDAYS
from ..domain.coupons.read_models import AVAILABLE, EXPIRED, UNAVAILABLE, UPCOMING
from ..domain.errors import AccountNotActive, DomainError, IdempotencyKeyReused, NotFound
from ..domain.pagination import MAX_LIMIT
from ..domain.throttle import TooManyAttempts
from ..extensions import db
from ..forms import safe_next
from ..fragments import render_page_or_fragment
from . import bp, current_locale, current_member, member_required, organization_name
from .coupon_forms import ClaimForm, CouponActionForm

HISTORY_PAGE_SIZE = 10
MAX_HELD_PAGES = 20  # 2,000 coupons: far more than a member holds; the page stays bounded
TYPE_LABELS = {coupons.DISCOUNT: _l("Discount"), coupons.REWARD: _l("Reward"),
               coupons.EXTRAPOINT: _l("Extra points"), coupons.MULTIPLIER: _l("Points multiplier")}
STATE_LABELS = {AVAILABLE: _l("Ready to use"), UPCOMING: _l("Not valid yet"), coupons.USED: _l("Used"),
                EXPIRED: _l("Expired"), UNAVAILABLE: _l("No longer offered"), coupons.REVERTED: _l("Cancelled")}


# --- what the templates show ------------------------------------------------------------

@dataclass
class HeldBook:
    """The member's current coupons of one book: one card with its activation and uses left."""

    book: coupons.CouponBook
    texts: dict[str, str]
    activated: bool | None
    held: list[coupons.MemberCoupon] = field(default_factory=list)

    @property
    def uses_left(self) -> int:
        return len(self.held)

    @property
    def links(self) -> list[coupons.MemberCoupon]:
        """One link per code; codeless coupons of a book all look the same at the till, so one link."""
        with_codes = [c for c in self.held if c.code]
        return with_codes or self.held[:1]


def value_text(book: coupons.CouponBook) -> str:
    value = coupons.coupon_value(book)
    if book.type == coupons.DISCOUNT:
        if book.discount_type == coupons.PERCENTAGE:
            return _("%(percent)s %% off", percent=format_decimal(value))
        return _("%(amount)s off", amount=format_currency(Decimal(value), _currency()))
    if book.type == coupons.REWARD:
        # A reward without a price at the till has no value to show; its tag says "Reward".
        return _("Reward for %(points)s points", points=format_number(value)) if value else ""
    if book.type == coupons.EXTRAPOINT:
        return _("%(points)s extra points", points=format_number(value))
    return _("%(factor)s× points", factor=format_decimal(value))


def condition_texts(book: coupons.CouponBook) -> list[str]:
    """The book's condition in plain words, one line per rule (coupons.conditions.describe's terms)."""
    lines = []
    for what, values in coupons.conditions.describe(book.condition):
        listed = ", ".join(values.get("values", []))
        if what == "minTotal":
            amount = format_currency(values["amount"], _currency())
            lines.append(_("With a purchase of %(amount)s or more of eligible products", amount=amount)
                         if values["eligible"] else _("With a purchase of %(amount)s or more", amount=amount))
        elif what == "daysOfWeek":
            names = get_day_names("wide", locale=get_locale())
            lines.append(_("Only on %(days)s", days=", ".join(names[WEEKDAYS.index(d)] for d in values["values"])))
        elif what == "hours":
            lines.append(_("Only from %(start)s to %(end)s", start=values["start"], end=values["end"]))
        elif what in CONDITION_TEXTS:
            lines.append(str(CONDITION_TEXTS[what]) % {"list": listed})
    return lines


CONDITION_TEXTS = {
    "includedProducts": _l("When you buy one of these products: %(list)s"),
    "includedCategories": _l("When you buy from: %(list)s"),
    "excludedProducts": _l("Not valid on these products: %(list)s"),
    "excludedCategories": _l("Not valid on: %(list)s"),
    "locationCodes": _l("Only in these stores: %(list)s"),
    "firstPurchaseOnly": _l("Only on your first purchase"),
    "notCombinable": _l("Cannot be combined with other coupons"),
}


# The refusals said the same way whatever their details, in the order they are checked.
REFUSALS = [
    (coupons.CouponNotEligible, _l("This coupon is for members of another tier.")),
    (coupons.CouponNotInAudience, _l("This coupon is for another group of members.")),
    (coupons.CouponNotPublished, _l("This coupon is not on offer any more.")),
    (coupons.CouponExpired, _l("This coupon has expired.")),
    (coupons.CouponNotYetValid, _l("This coupon is not valid yet.")),
    (coupons.CouponNotActivatable, _l("This coupon is always active; there is nothing to switch.")),
    (coupons.CouponNotActivated, _l("Activate this coupon first.")),
    (coupons.CouponAlreadyUsed, _l("This coupon was already used.")),
    (AccountNotActive, _l("Your account is locked. Please contact us.")),
    (TooManyAttempts, _l("Too many attempts. Please wait a while and try again.")),
    (IdempotencyKeyReused, _l("This form was already sent. Please reload the page and try again.")),
]


def refusal_text(error: Exception, book: coupons.CouponBook | None = None) -> str:
    """The offers engine's refusal, said to the member in their language."""
    field_name = getattr(error, "field", None)
    if isinstance(error, coupons.InsufficientPoints):
        needed = book.assignment_required_points if book is not None and field_name != "usageRequiredPoints" \
            else (book.usage_required_points if book is not None else 0)
        return _("You need %(points)s points to claim this coupon.", points=format_number(needed))
    if isinstance(error, coupons.CouponLimitReached):
        if field_name == "maxAssignedPerMember":
            return _("You already have as many of these coupons as one member can get.")
        return _("All of these coupons have been given out.")
    for refused, text in REFUSALS:
        if isinstance(error, refused):
            return str(text)
    return _("This coupon cannot be claimed right now. Please try again later.")


def coupon_type_label(book: coupons.CouponBook) -> str:
    return str(TYPE_LABELS.get(book.type, book.type))


# --- pages -------------------------------------------------------------------------------

@bp.get("/coupons", endpoint="coupons")
@member_required
def coupons_page():
    member = current_member()
    session = db.session
    tab = "history" if request.args.get("tab") == "history" else "current"
    page_number = max(request.args.get("page", 0, type=int), 0)
    locale = current_locale()
    held = _all_held(session, member)
    current = [c for c in held if c.current]
    history = [c for c in held if not c.current]
    context = {"tab": tab, "current_count": len(current), "history_count": len(history), "locale": locale}
    if tab == "current":
        # A book the member already holds as often as one member may is listed under their coupons
        # (or in the history), not again as an offer they cannot take.
        offers = [offer for offer in coupons.offers_for_member(session, member, limit=MAX_LIMIT).items
                  if not (offer.assigned and _per_member_limit(offer.refusal))]
        context.update(groups=_group_by_book(current, locale), offers=offers, claim_key=_claim_key,
                       refusal_text=refusal_text, offer_texts={o.book.id: coupons.texts(o.book, locale)
                                                               for o in offers})
    else:
        pages = max(1, -(-len(history) // HISTORY_PAGE_SIZE))
        page_number = min(page_number, pages - 1)
        context.update(history=history[page_number * HISTORY_PAGE_SIZE:(page_number + 1) * HISTORY_PAGE_SIZE],
                       page=page_number, pages=pages,
                       history_texts={c.book.id: coupons.texts(c.book, locale) for c in history})
    return render_page_or_fragment("member/coupons.html", "member/coupons/_panel.html", **context, **_helpers())


@bp.get("/coupons/<int:coupon_id>")
@member_required
def coupon(coupon_id: int):
    member = current_member()
    held = _held_or_404(member, coupon_id)
    return render_page_or_fragment("member/coupon.html", "member/coupons/_detail.html",
                                   **_coupon_context(member, held), **_helpers())


@bp.get("/coupons/<int:coupon_id>.pdf")
@member_required
def coupon_pdf(coupon_id: int):
    member = current_member()
    held = _held_or_404(member, coupon_id)
    context = _coupon_context(member, held, inline_svg=False)
    if not context["till_code"]:
        abort(404)  # used, expired or automatic: nothing to show at a till
    html = render_template("member/coupon_pdf.html", **context, **_helpers())
    response = make_response(cards.render_pdf(html))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="coupon-{held.assignment.id}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


# --- actions -------------------------------------------------------------------------------

@bp.post("/coupons/books/<int:book_id>/claim")
@member_required
def coupon_claim(book_id: int):
    member = current_member()
    form = ClaimForm()
    if not form.validate_on_submit():
        abort(400)
    target = safe_next(form.next.data) or url_for("member.coupons")
    book = None
    try:
        with db.transaction() as session:
            book = coupons.get_book(session, member.organization_id, book_id)
            coupons.claim_coupon(session, member, book, actor=self_service.member_actor(member),
                                 system_unique_key=f"portal-claim:{member.id}:{form.request_key.data}")
    except NotFound:
        abort(404)
    except DomainError as error:
        flash(refusal_text(error, book), "error")
        return redirect(target, 303)
    flash(_("Claimed: %(title)s", title=coupons.texts(book, current_locale())["title"]), "success")
    return redirect(target, 303)


@bp.post("/coupons/<int:coupon_id>/activate")
@member_required
def coupon_activate(coupon_id: int):
    return _set_activation(coupon_id, True)


@bp.post("/coupons/<int:coupon_id>/deactivate")
@member_required
def coupon_deactivate(coupon_id: int):
    return _set_activation(coupon_id, False)


def _set_activation(coupon_id: int, activated: bool):
    member = current_member()
    form = CouponActionForm()
    if not form.validate_on_submit():
        abort(400)
    target = safe_next(form.next.data) or url_for("member.coupon", coupon_id=coupon_id)
    book = None
    try:
        with db.transaction() as session:
            assignment = _own_assignment(session, member, coupon_id)
            book = coupons.get_book(session, member.organization_id, assignment.book_id)
            coupons.set_activation(session, member, book, activated, actor=self_service.member_actor(member))
    except NotFound:
        abort(404)
    except DomainError as error:
        flash(refusal_text(error, book), "error")
        return redirect(target, 303)
    title = coupons.texts(book, current_locale())["title"]
    flash(_("Activated: %(title)s", title=title) if activated else _("Deactivated: %(title)s", title=title),
          "success")
    return redirect(target, 303)


# --- internals -------------------------------------------------------------------------------

def _helpers() -> dict:
    return {"value_text": value_text, "condition_texts": condition_texts, "state_labels": STATE_LABELS,
            "coupon_type_label": coupon_type_label, "format_number": format_number}


def _currency() -> str:
    return current_app.config["PORTAL_CURRENCY"]


def _per_member_limit(refusal: Exception | None) -> bool:
    return isinstance(refusal, coupons.CouponLimitReached) and refusal.field == "maxAssignedPerMember"


def _claim_key() -> str:
    return secrets.token_urlsafe(18)


def _all_held(session, member: members.Member) -> list[coupons.MemberCoupon]:
    """Every coupon the member holds (not cancelled), newest first."""
    held, page_number = [], 0
    while page_number < MAX_HELD_PAGES:
        result = coupons.member_coupons(session, member, page=page_number, limit=MAX_LIMIT)
        held += result.items
        if page_number + 1 >= result.pages:
            break
        page_number += 1
    return held


def _group_by_book(current: list[coupons.MemberCoupon], locale: str) -> list[HeldBook]:
    groups: dict[int, HeldBook] = {}
    for item in current:
        group = groups.get(item.book.id)
        if group is None:
            group = groups[item.book.id] = HeldBook(book=item.book, texts=coupons.texts(item.book, locale),
                                                    activated=item.activated)
        group.held.append(item)
    for group in groups.values():
        # The coupon expiring first comes first: that is the one a till takes.
        group.held.sort(key=lambda c: (c.assignment.expires_at is None, c.assignment.expires_at or 0,
                                       c.assignment.id))
    return list(groups.values())


def _own_assignment(session, member: members.Member, coupon_id: int) -> coupons.CouponUsage:
    """The member's own coupon (an assignment), or NotFound, worded the same whoever else holds it."""
    usage = coupons.get_usage(session, member.organization_id, coupon_id)
    if usage.member_id != member.id or usage.kind != coupons.ASSIGN or usage.reverted_at is not None:
        raise NotFound("Coupon usage not found", field="couponUsageId")
    return usage


def _held_or_404(member: members.Member, coupon_id: int) -> coupons.MemberCoupon:
    session = db.session
    try:
        usage = _own_assignment(session, member, coupon_id)
    except NotFound:
        abort(404)
    page_number = 0
    while page_number < MAX_HELD_PAGES:
        result = coupons.member_coupons(session, member, book_id=usage.book_id, code_id=usage.code_id,
                                        page=page_number, limit=MAX_LIMIT)
        for item in result.items:
            if item.assignment.id == usage.id:
                return item
        if page_number + 1 >= result.pages:
            break
        page_number += 1
    abort(404)


def _coupon_context(member: members.Member, held: coupons.MemberCoupon, *, inline_svg: bool = True) -> dict:
    """What the coupon page and its PDF show. `till_code` is what a till scans: the coupon's own code,
    or for a coupon without one the member's card (the till finds the coupon on the account)."""
    session = db.session
    book = held.book
    locale = current_locale()
    till_code = None
    if held.current and not book.is_automatic:
        till_code = held.code or members.card_code_of(session, member.id)
    context = {"held": held, "book": book, "texts": coupons.texts(book, locale), "till_code": till_code,
               "own_code": bool(held.code), "org_name": organization_name(member.organization_id),
               "member_name": member.display_name, "current": held.current}
    if till_code and inline_svg:
        # Codes are letters, digits, - and _ (portal/domain/coupons/codes.py): Code128 draws them all.
        if held.code:
            bars, square = (_("Barcode of coupon code %(code)s", code=till_code),
                            _("QR code of coupon code %(code)s", code=till_code))
        else:
            bars, square = (_("Barcode of card number %(code)s", code=till_code),
                            _("QR code of card number %(code)s", code=till_code))
        context["barcode_svg"] = cards.code128_svg(till_code, label=bars)
        context["qr_svg"] = cards.qr_svg(till_code, label=square)
    elif till_code:
        context.update(cards.printable_codes(till_code))
    return context

