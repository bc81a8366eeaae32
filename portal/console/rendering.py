"""Small helpers shared by the console views: where a rule stopped parsing, page numbers
and the page of a list, and display formats. (Shared with the member portal: htmx fragments in
portal/fragments.py; submitting a form, a form page's status and safe redirects in
portal/forms.py.)"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import request
from sqlalchemy import Select

from ..domain.errors import DomainError
from ..domain.pagination import Page, paginate
from ..domain.rules import RuleSyntaxError
from ..extensions import db


@dataclass
class RulePointer:
    """Where a rule (an audience's, a mission's matcher) stopped parsing: the line's text and the column."""
    line: int
    column: int
    text: str


def rule_pointer(text: str, error: RuleSyntaxError) -> RulePointer:
    lines = text.splitlines() or [""]
    line = lines[error.line - 1] if 0 < error.line <= len(lines) else ""
    return RulePointer(error.line, error.column, line)


def refusal_pointer(field, refusal: DomainError) -> RulePointer | None:
    """After a refused save: where the text of `field` (an audience's rule, a mission's matcher)
    stopped parsing, if that was the refusal."""
    if isinstance(refusal, RuleSyntaxError):
        return rule_pointer((field.data or "").strip(), refusal)
    return None


def page_arg(name: str = "page") -> int:
    """The 1-based page number from the query string; anything odd means page 1."""
    raw = request.args.get(name, "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


def page_of(stmt: Select, per_page: int, *order, **options) -> Page:
    """The page of `stmt` a console list shows: the one the query string asks for (`page_arg()`),
    `per_page` rows, ordered by `order` (e.g. `*newest_first(Model)`); `options` go to `paginate`."""
    return paginate(db.session, stmt.order_by(*order) if order else stmt, page=page_arg() - 1, limit=per_page,
                    **options)


def newest_first(model) -> tuple:
    """The order of a list of things newest first: created_at, then id (for equal times), descending."""
    return model.created_at.desc(), model.id.desc()


def format_when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def format_number(value: int | None) -> str:
    return f"{int(value or 0):,}"


def format_signed(value: int | None) -> str:
    return f"{int(value or 0):+,}"
