"""Small helpers shared by the console views: htmx fragments, domain errors on
form fields, safe redirects, page numbers and display formats."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import make_response, render_template, request
from flask_wtf import FlaskForm

from ..domain.errors import DomainError
from ..extensions import db, htmx


def wants_fragment() -> bool:
    """An htmx request that swaps part of the page (a history restore needs the whole page)."""
    return bool(htmx) and not htmx.history_restore_request


def render_page_or_fragment(page_template: str, fragment_template: str, status: int = 200, **context):
    """STYLE rule 8: the page includes the fragment; htmx gets the fragment alone from the same URL."""
    template = fragment_template if wants_fragment() else page_template
    response = make_response(render_template(template, **context), status)
    # Both variants come from one URL: caches must keep them apart.
    response.vary.add("HX-Request")
    return response


def attach_error(form: FlaskForm, error: DomainError, fields: dict[str, str] | None = None) -> None:
    """Show a domain error on the form field it names, else above the form.

    `fields` maps domain field names (API spelling, e.g. "loyaltyTierId") to form
    field names; a domain field equal to a form field name needs no entry.
    """
    name = (fields or {}).get(error.field or "", error.field)
    field = form._fields.get(name) if name else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def commit_or_attach(form: FlaskForm, action, fields: dict[str, str] | None = None):
    """Run one domain call for a submitted form: commit and return (True, its result); on a
    DomainError roll back, show the error on the form field it names and return (False, None)."""
    try:
        result = action()
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error, fields)
        return False, None
    db.session.commit()
    return True, result


def safe_next(target: str | None) -> str | None:
    """The `next` target when it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    target = target.strip()
    if target.endswith("?"):
        target = target[:-1]
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return None
    return target


def page_arg(name: str = "page") -> int:
    """The 1-based page number from the query string; anything odd means page 1."""
    raw = request.args.get(name, "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


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
