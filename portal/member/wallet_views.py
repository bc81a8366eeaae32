"""Member portal wallet and card: balances, tier progress, expiring points and the paged,
filterable points history; the membership card with its barcodes, and as a PDF."""
from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import abort, make_response, render_template, request
from flask_babel import get_babel, get_locale, get_timezone, get_translations
from flask_babel import gettext as _
from jinja2 import pass_context
from markupsafe import Markup

from ..domain import cards, members, orders, organizations, statements, tiers
from ..domain.errors import DomainError, NotFound
from ..domain.self_service import N_
from ..extensions import db
from ..fragments import render_page_or_fragment, wants_fragment
from . import bp, current_member, member_required, organization_name, page_read

HISTORY_TYPE_LABELS = {"mint": N_("Earned"), "burn": N_("Redeemed"), "transfer": N_("Transfer"),
                       "capture": N_("Confirmed"), "revert": N_("Reversal")}


class HistoryLine(NamedTuple):
    """A history row as the page shows it, formatted by the view (the template only places the texts)."""
    transaction_id: int
    day: str
    description: str
    label: str  # the type's label
    direction: str  # "in" for points received, else "out"
    sign: str
    points: str  # the amount without its sign
    balance: str


@bp.get("/wallet")
@member_required(loads=statements.member_overview)  # the member and the overview: one statement
def wallet():
    member = current_member()
    session = db.session
    account_id = request.args.get("account", type=int)
    if request.args.get("account") and account_id is None:
        abort(404)
    tx_type = request.args.get("type") or None
    try:
        # accounts, wallets, programme, tier, ladder: read with the session's member (else one statement)
        overview = page_read() or statements.overview(session, member)
        shown = overview.account(account_id)
        history = statements.history(session, shown.wallet_id, page=request.args.get("page", 0, type=int),
                                     tx_type=tx_type)
    except NotFound:
        abort(404)
    except DomainError:
        abort(400)
    translations = get_translations()
    type_labels = {value: translations.ugettext(label) for value, label in HISTORY_TYPE_LABELS.items()}
    formats = _page_formats()
    context = {"history": history, "lines": _history_lines(history.items, type_labels, **formats),
               "account": shown, "tx_type": tx_type or "", "account_param": account_id, "type_labels": type_labels,
               **formats, **_page_gettext(translations)}
    if not wants_fragment():
        main = overview.account(None)
        # Orders and debts cost their queries only for a member who has any (the overview says).
        context.update(balances=overview.balances, progress=statements.tier_progress(overview),
                       expiring=statements.expiring_points(session, main.wallet_id, main.expires_in_months),
                       points_account_id=overview.points_account_id,
                       tier_account_id=overview.tier_points_account_id,
                       orders=(orders.orders_with_lines(session, member.id, main.account_id)
                               if overview.has_orders else []),
                       debt=orders.outstanding_debt(session, member.id, main.account_id) if overview.has_debts else 0)
    return render_page_or_fragment("member/wallet.html", "member/_history_rows.html", **context)


def _history_lines(rows: list[statements.HistoryRow], type_labels: dict, *, format_number,
                   format_day) -> list[HistoryLine]:
    """The history rows with their texts (about 60 values a page: formatted here rather than by one call from the
    template each, which cost Jinja's call machinery per value)."""
    return [HistoryLine(transaction_id=row.transaction_id, day=format_day(row.created_at), description=row.description,
                        label=type_labels.get(row.type, row.type), direction="in" if row.amount > 0 else "out",
                        sign="+" if row.amount > 0 else "−", points=format_number(abs(row.amount)),
                        balance=format_number(row.balance_after))
            for row in rows]


def _page_formats() -> dict:
    """`format_number` and `format_day` for the wallet page: Babel's own `format_decimal` and `format_date` with
    the request's locale, date format and time zone looked up once a page instead of once a value, as Flask-Babel's
    `format_number` and `dateformat` do (about 60 values a page; the lookups were a fifth of its time). Whole
    numbers in a locale that groups by threes (en, de) are grouped by Python itself with the locale's symbols,
    and each day is formatted once a page."""
    locale, zone = get_locale(), get_timezone()
    configured = get_babel().instance.date_formats
    day_format = configured["date"]  # Flask-Babel's default date format, resolved as its _get_format does
    if day_format in ("short", "medium", "long", "full"):
        day_format = configured[f"date.{day_format}"] or day_format
    pattern = locale.decimal_formats[None]
    plain = pattern.grouping == (3, 3) and pattern.prefix == ("", "-") and pattern.suffix == ("", "")
    group, minus = babel_numbers.get_group_symbol(locale), babel_numbers.get_minus_sign_symbol(locale)
    days: dict[dt.date, str] = {}

    def format_number(value) -> str:
        if plain and type(value) is int:
            text = f"{value:,}".replace(",", group)
            return text.replace("-", minus) if value < 0 else text
        return babel_numbers.format_decimal(value, locale=locale)

    def format_day(value: dt.date | dt.datetime) -> str:
        if isinstance(value, dt.datetime):  # as Flask-Babel's to_user_timezone: naive means UTC
            value = (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(zone).date()
        if value not in days:
            days[value] = babel_dates.format_date(value, day_format, locale=locale)
        return days[value]

    return {"format_number": format_number, "format_day": format_day}


def _page_gettext(translations) -> dict:
    """`_`, `gettext` and `ngettext` for the page's templates, bound to this request's translations once: the same
    text as the environment's (Jinja's "newstyle" calls: the message escaped when autoescaping, then
    %-formatted with the keyword arguments), without Flask-Babel's lookup of the request's translations for
    each of the page's 40 messages (a fifth of the time spent rendering). `_()` and `{% trans %}` find them in
    the render context before the environment's globals (`_` itself, rather than the environment's alias that
    calls `gettext` through Jinja once more). Macros imported without context still use the environment's."""

    @pass_context
    def gettext(context, string, **variables):
        text = translations.ugettext(string)
        # Markup, as Jinja's own newstyle gettext does: the text is our message catalogue's, and Markup's %
        # escapes the variables.
        return (Markup(text) if context.eval_ctx.autoescape else text) % variables  # nosec B704

    @pass_context
    def ngettext(context, singular, plural, num, **variables):
        variables.setdefault("num", num)
        text = translations.ungettext(singular, plural, num)
        return (Markup(text) if context.eval_ctx.autoescape else text) % variables  # nosec B704 (as above)

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}


@bp.get("/card")
@member_required
def card():
    member = current_member()
    return render_template("member/card.html", **_card_context(member, inline_svg=True))


@bp.get("/card.pdf")
@member_required
def card_pdf():
    member = current_member()
    context = _card_context(member, inline_svg=False)
    if not context["code"]:
        abort(404)
    html = render_template("member/card_pdf.html", **context)
    response = make_response(cards.render_pdf(html))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="card-{context["code"]}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _card_context(member: members.Member, *, inline_svg: bool) -> dict:
    session = db.session
    code = members.card_code_of(session, member.id)
    program = organizations.default_program(session, member.organization_id)
    context = {"code": code, "progress": tiers.progress(session, member.id, program),
               "org_name": organization_name(member.organization_id), "member_name": member.display_name}
    if code and inline_svg:
        context["barcode_svg"] = cards.code128_svg(code, label=_("Barcode of card number %(code)s", code=code))
        context["qr_svg"] = cards.qr_svg(code, label=_("QR code of card number %(code)s", code=code))
    elif code:
        context["barcode_png"] = cards.data_uri(cards.code128_png(code))
        context["qr_png"] = cards.data_uri(cards.qr_png(code))
    return context
