"""Field checks shared by the modules that save definitions (missions, referral
programmes, campaigns, coupon books, signup forms, webhooks, partner apps): the same input gets the same message
wherever it is sent. Each raises ValidationFailed naming the field.
"""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy.orm import Session

from . import ledger
from .errors import NotFound, ValidationFailed


def reject_unknown(values: Iterable[str], allowed: Iterable[str]) -> None:
    """Refuse the first (alphabetically) of `values` that is not `allowed`."""
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValidationFailed(f"Unknown field {unknown[0]}", field=unknown[0])


def required_name(value: str | None, field: str = "name", *, max_length: int = 200) -> str:
    """The name without surrounding spaces; an empty one, or one longer than `max_length` (the
    String(200) of the name columns), is refused."""
    name = (value or "").strip()
    if not name:
        raise ValidationFailed(f"{field} is required", field=field)
    if len(name) > max_length:
        raise ValidationFailed(f"{field} must have at most {max_length} characters", field=field)
    return name


def whole_number(value: Any, field: str, *, minimum: int, maximum: int) -> int:
    """An int (not a bool) from `minimum` to `maximum`."""
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise ValidationFailed(f"{field} must be a whole number from {minimum} to {maximum}", field=field)
    return value


def ledger_account_reference(session: Session, organization_id: int, account_id: int | None,
                             field: str = "ledgerAccountId") -> int | None:
    """An account of the organisation, or None (the programme's default account)."""
    if account_id is not None:
        try:
            ledger.get_account(session, organization_id, account_id)
        except NotFound:
            raise ValidationFailed("No such ledger account", field=field) from None
    return account_id
