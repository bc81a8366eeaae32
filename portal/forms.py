"""Submitting a form in the HTML faces (console and member portal).

A view parses its form, then hands the domain call to `submit`: the call runs as
the request's one unit of work (portal/db.py), committed when it returns; a
DomainError rolls all of it back and is shown on the form field it names, so
the page can be drawn again with the error where the person will look.
`try_out` does the same for a call whose writes must not be kept (a check, a
simulation). `submit_then` adds the usual ending (flash, redirect) and `save_edit` the whole
flow of an edit page (fill, save, or draw it again). `form_status` is the
status of a form page drawn again. `safe_next` is the one check of a `next` redirect target.
"""
from __future__ import annotations

from typing import Any, Callable, Union
from urllib.parse import urlsplit

from flask import flash, redirect, request
from flask_wtf import FlaskForm

from .domain.errors import DomainError
from .extensions import db

# Domain field names (API spelling, "loyaltyTierId") -> form field names ("tier"); or, for a form whose
# fields are not a fixed list (texts per locale, numbered rules), its own `place_error(error)` giving
# (form field name or None, message).
Fields = Union[dict[str, str], Callable[[DomainError], tuple[Union[str, None], str]]]


def form_status() -> int:
    """A form page's status: 422 when it is drawn again after a refused POST, else 200."""
    return 422 if request.method == "POST" else 200


def attach_error(form: FlaskForm, error: DomainError, fields: Fields | None = None,
                 translate: Callable[[str], str] | None = None) -> None:
    """Show a domain error on the form field it names, else above the form.

    `fields` says which form field that is (see `Fields`); a domain field equal
    to a form field name needs no entry. `translate` rewords the domain's
    message for the page (the member portal shows it in the member's language).
    """
    if callable(fields):
        name, message = fields(error)
    else:
        name, message = (fields or {}).get(error.field or "", error.field), error.message
    if translate:
        message = translate(message)
    field = form._fields.get(name) if name else None
    if field is not None:
        field.errors = [*field.errors, message]
    else:
        form.form_errors.append(message)


def submit(form: FlaskForm, action: Callable[[], Any], fields: Fields | None = None,
           translate: Callable[[str], str] | None = None) -> tuple[bool, Any]:
    """Run `action()`, the submitted form's domain call, in one transaction.

    Returns (True, its result) once committed. On a DomainError everything is
    rolled back, the error is attached to the form (see `attach_error`) and the
    answer is (False, the error), for a view whose status depends on the kind of
    refusal (429 for TooManyAttempts, say).
    """
    try:
        with db.transaction():
            return True, action()
    except DomainError as error:
        attach_error(form, error, fields, translate)
        return False, error


def submit_then(form: FlaskForm, action: Callable[[], Any], fields: Fields | None = None, *,
                told: Callable[[Any], Union[str, tuple[str, str]]], then: Union[str, Callable[[Any], str]],
                page: Callable[[Union[DomainError, None]], str] | None = None):
    """A posted form's usual ending: when it validates, `submit(form, action, fields)`; once
    committed, flash `told(result)` (a message, or a message and its category; "success" by
    default) and redirect to `then` (a URL, or a function of the result giving it).

    Else the page is to be drawn (again), with the errors on the form: given `page`, the answer is
    `page(refusal)` (the DomainError that refused the action, or None) with `form_status()`;
    without, None, and the view draws it.
    """
    refusal = None
    if form.validate_on_submit():
        done, result = submit(form, action, fields)
        if done:
            message = told(result)
            flash(*(message if isinstance(message, tuple) else (message, "success")))
            return redirect(then(result) if callable(then) else then)
        refusal = result
    return (page(refusal), form_status()) if page else None


def save_edit(form: FlaskForm, thing: Any, action: Callable[[], Any], fields: Fields | None = None, *,
              saved: Callable[[], str], then: str, page: Callable[[Union[DomainError, None]], str]):
    """An edit page's whole flow: a GET fills `form` from `thing` and draws `page(None)`; a POST
    goes through `submit_then`, flashing `saved()` (called after the change, so it names the new
    name) or drawing `page(refusal)` again."""
    if request.method == "GET":
        form.fill(thing)
    return submit_then(form, action, fields, told=lambda _: saved(), then=then, page=page)


def try_out(form: FlaskForm, action: Callable[[], Any], fields: Fields | None = None,
            translate: Callable[[str], str] | None = None) -> tuple[bool, Any]:
    """Like `submit`, but nothing `action()` writes is kept: a check or a dry run is always rolled back."""
    try:
        return True, action()
    except DomainError as error:
        attach_error(form, error, fields, translate)
        return False, error
    finally:
        db.session.rollback()


def safe_next(target: str | None) -> str | None:
    """The `next` target when it is a path on this site, else None (no open redirects).

    Refused: absolute and scheme-relative URLs, backslashes (browsers read them as
    slashes) and control characters (browsers drop tabs and newlines, so
    "/\\t/evil.example" would become "//evil.example").
    """
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
