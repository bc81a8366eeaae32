"""A coupon book's `condition`: what a purchase must be for one of its coupons to apply.

The seed leaves `condition` an open object; these are its fields (camelCase, as
the API spells them). Each is optional; an empty condition holds for every
purchase.

| field | meaning |
| --- | --- |
| `minTotal` | the qualifying spend reaches this amount |
| `includedProducts`, `includedCategories` | only lines of these SKUs / category codes qualify, and at least one must be bought |
| `excludedProducts`, `excludedCategories` | lines of these never qualify (nor count toward `minTotal`) |
| `locationCodes` | only in these stores |
| `daysOfWeek` | only on these days (monday..sunday), in the organisation's timezone |
| `fromTime`, `toTime` | only between these times of day ("HH:MM", `toTime` excluded; overnight when from > to) |
| `firstPurchaseOnly` | only on the member's first confirmed purchase |
| `combinable` | false: the only coupon used on its purchase |

The qualifying spend is the purchase total when the purchase has no lines or the
condition names no products or categories; otherwise the sum of its non-discount
lines that qualify.

Checked in `check` in the order of the table, so the answer names the first
condition a purchase breaks; the same function serves a use at the till, the
purchase path (automatic coupons) and the order simulation. `describe` gives
each condition as a term the member portal says in plain words.

Invariants: a stored condition has only these fields, each of its type
(`clean`, called when a book is saved); a condition never writes.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from ..context import WEEKDAYS
from ..errors import ValidationFailed
from .errors import (CouponBelowMinimumTotal, CouponConditionNotMet, CouponFirstPurchaseOnly,
                     CouponNotCombinable, CouponOutsideDaysAndHours, CouponProductsNotInPurchase,
                     CouponPurchaseRequired, CouponStoreNotAllowed)

LIST_FIELDS = ("includedProducts", "excludedProducts", "includedCategories", "excludedCategories", "locationCodes")
FIELDS = ("minTotal", *LIST_FIELDS, "daysOfWeek", "fromTime", "toTime", "firstPurchaseOnly", "combinable")
# Conditions that need the purchase's total or lines: a use at the till without them is refused.
BASKET_FIELDS = ("minTotal", "includedProducts", "excludedProducts", "includedCategories", "excludedCategories")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_MAX_LIST = 500


@dataclass
class Basket:
    """What a condition looks at: the purchase (None at a till use that gave none) and its moment and place."""

    total: Decimal | None = None
    items: list[dict[str, Any]] = field(default_factory=list)  # {"sku", "category", "quantity", "unitPrice", ...}
    location_code: str | None = None
    at: dt.datetime | None = None
    timezone: str = "UTC"
    first_purchase: bool | None = None  # None: unknown (then firstPurchaseOnly asks for it)
    other_coupons: int = 0  # coupons already used on the same purchase
    other_not_combinable: bool = False  # one of them is not combinable


def clean(value: Any) -> dict[str, Any]:
    """The condition with known fields only, each checked; raises ValidationFailed naming `condition.<field>`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed("condition must be an object", field="condition")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise ValidationFailed(f"Unknown condition {unknown[0]}; known: {', '.join(FIELDS)}",
                               field=f"condition.{unknown[0]}")
    cleaned: dict[str, Any] = {}
    for name in FIELDS:
        if name not in value or value[name] is None:
            continue
        raw = value[name]
        where = f"condition.{name}"
        if name == "minTotal":
            _amount(raw, where)
            cleaned[name] = raw  # as given (a number or a decimal string); read with Decimal(str(...))
        elif name in LIST_FIELDS:
            cleaned[name] = _strings(raw, where)
        elif name == "daysOfWeek":
            days = [d.lower() for d in _strings(raw, where)]
            wrong = [d for d in days if d not in WEEKDAYS]
            if wrong:
                raise ValidationFailed(f"{where}: days are {', '.join(WEEKDAYS)}", field=where)
            cleaned[name] = [d for d in WEEKDAYS if d in days]
        elif name in ("fromTime", "toTime"):
            if not isinstance(raw, str) or not _TIME.match(raw):
                raise ValidationFailed(f"{where} is a time of day, HH:MM", field=where)
            cleaned[name] = raw
        else:
            if not isinstance(raw, bool):
                raise ValidationFailed(f"{where} is true or false", field=where)
            cleaned[name] = raw
    if ("fromTime" in cleaned) != ("toTime" in cleaned):
        missing = "toTime" if "fromTime" in cleaned else "fromTime"
        raise ValidationFailed("Give both fromTime and toTime", field=f"condition.{missing}")
    if "fromTime" in cleaned and cleaned["fromTime"] == cleaned["toTime"]:
        raise ValidationFailed("fromTime and toTime must differ", field="condition.toTime")
    if cleaned.get("combinable") is True:
        del cleaned["combinable"]  # the default
    if cleaned.get("firstPurchaseOnly") is False:
        del cleaned["firstPurchaseOnly"]
    return cleaned


def needs_basket(condition: dict[str, Any]) -> bool:
    return any(name in (condition or {}) for name in BASKET_FIELDS)


def is_combinable(condition: dict[str, Any]) -> bool:
    return (condition or {}).get("combinable", True) is not False


def qualifying_spend(condition: dict[str, Any], basket: Basket) -> Decimal | None:
    """The spend the condition counts (see the module docstring); None when the basket is unknown."""
    if basket.total is None:
        return None
    lists = [condition.get(name) for name in BASKET_FIELDS[1:]]
    if not basket.items or not any(lists):
        return Decimal(str(basket.total))
    return sum((_line_total(item) for item in basket.items if _qualifies(condition, item)), Decimal(0))


def check(condition: dict[str, Any], basket: Basket) -> CouponConditionNotMet | None:
    """The first condition the basket breaks, as the error to raise or report; None when all hold."""
    condition = condition or {}
    if not condition:
        return None
    if needs_basket(condition) and basket.total is None:
        return CouponPurchaseRequired("This coupon's conditions need the purchase: give its total and lines",
                                      field="purchase")
    included = condition.get("includedProducts") or condition.get("includedCategories")
    if included and basket.items and not any(_qualifies(condition, item) for item in basket.items):
        return CouponProductsNotInPurchase(f"This coupon needs {_included_words(condition)} in the purchase",
                                           field="condition.includedProducts"
                                           if condition.get("includedProducts") else "condition.includedCategories")
    spend = qualifying_spend(condition, basket)
    excluded = condition.get("excludedProducts") or condition.get("excludedCategories")
    if (included or excluded) and basket.items and spend is not None and spend <= 0:
        return CouponProductsNotInPurchase("Nothing in this purchase counts for this coupon",
                                           field="condition.excludedProducts"
                                           if condition.get("excludedProducts") else "condition.excludedCategories")
    if "minTotal" in condition and spend is not None and spend < Decimal(str(condition["minTotal"])):
        return CouponBelowMinimumTotal(f"This coupon needs a purchase of at least {_money(condition['minTotal'])}",
                                       field="condition.minTotal")
    stores = condition.get("locationCodes")
    if stores and basket.location_code not in stores:
        return CouponStoreNotAllowed(f"This coupon is valid only in {_join(stores)}", field="condition.locationCodes")
    if basket.at is not None and ("daysOfWeek" in condition or "fromTime" in condition):
        local = basket.at.astimezone(ZoneInfo(basket.timezone or "UTC"))
        days = condition.get("daysOfWeek")
        if days and WEEKDAYS[local.weekday()] not in days:
            return CouponOutsideDaysAndHours(f"This coupon is valid only on {_join([d.capitalize() for d in days])}",
                                             field="condition.daysOfWeek")
        if "fromTime" in condition and not _in_hours(local.strftime("%H:%M"), condition["fromTime"],
                                                      condition["toTime"]):
            return CouponOutsideDaysAndHours(f"This coupon is valid only from {condition['fromTime']} to "
                                             f"{condition['toTime']}", field="condition.fromTime")
    if condition.get("firstPurchaseOnly") and basket.first_purchase is not True:
        return CouponFirstPurchaseOnly("This coupon is valid on the member's first purchase only",
                                       field="condition.firstPurchaseOnly")
    if not is_combinable(condition) and basket.other_coupons:
        return CouponNotCombinable("This coupon cannot be combined with other coupons on one purchase",
                                   field="condition.combinable")
    if basket.other_not_combinable:
        return CouponNotCombinable("Another coupon used on this purchase cannot be combined with others",
                                   field="condition.combinable")
    return None


def describe(condition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The condition as terms for plain words, in the table's order: (what, values).

    what: minTotal {amount, eligible} | includedProducts, includedCategories, excludedProducts,
    excludedCategories, locationCodes, daysOfWeek {values} | hours {start, end} | firstPurchaseOnly |
    notCombinable. The faces say them in the member's language (member/coupon_views.py).
    """
    condition = condition or {}
    terms: list[tuple[str, dict[str, Any]]] = []
    if Decimal(str(condition.get("minTotal") or 0)):  # a minimum of 0 asks for nothing
        terms.append(("minTotal", {"amount": Decimal(str(condition["minTotal"])),
                                   "eligible": any(condition.get(n) for n in BASKET_FIELDS[1:])}))
    for name in ("includedProducts", "includedCategories", "excludedProducts", "excludedCategories",
                 "locationCodes", "daysOfWeek"):
        if condition.get(name):
            terms.append((name, {"values": list(condition[name])}))
    if "fromTime" in condition:
        terms.append(("hours", {"start": condition["fromTime"], "end": condition["toTime"]}))
    if condition.get("firstPurchaseOnly"):
        terms.append(("firstPurchaseOnly", {}))
    if not is_combinable(condition):
        terms.append(("notCombinable", {}))
    return terms


# --- internals ----------------------------------------------------------------------------

def _qualifies(condition: dict[str, Any], item: dict[str, Any]) -> bool:
    if item.get("isDiscount"):
        return False
    sku, category = item.get("sku"), item.get("category")
    if sku in (condition.get("excludedProducts") or []) or category in (condition.get("excludedCategories") or []):
        return False
    products, categories = condition.get("includedProducts"), condition.get("includedCategories")
    if products or categories:
        return sku in (products or []) or category in (categories or [])
    return True


def _line_total(item: dict[str, Any]) -> Decimal:
    return max(Decimal(str(item.get("unitPrice") or 0)) * int(item.get("quantity") or 1), Decimal(0))


def _in_hours(now: str, start: str, end: str) -> bool:
    return start <= now < end if start < end else (now >= start or now < end)


def _amount(raw: Any, where: str) -> Decimal:
    try:
        amount = Decimal(str(raw)) if not isinstance(raw, bool) else None
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
        raise ValidationFailed(f"{where} must be a number, 0 or more", field=where)
    return amount


def _strings(raw: Any, where: str) -> list[str]:
    if not isinstance(raw, list) or len(raw) > _MAX_LIST or \
            any(not isinstance(v, str) or not v.strip() or len(v) > 100 for v in raw):
        raise ValidationFailed(f"{where} is a list of codes (at most {_MAX_LIST}, each up to 100 characters)",
                               field=where)
    return list(dict.fromkeys(v.strip() for v in raw))


def _included_words(condition: dict[str, Any]) -> str:
    parts = []
    if condition.get("includedProducts"):
        parts.append(f"one of the products {_join(condition['includedProducts'], 'or')}")
    if condition.get("includedCategories"):
        parts.append(f"something from {_join(condition['includedCategories'], 'or')}")
    return " or ".join(parts)


def _join(values: list[str], last: str = "and") -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} {last} {values[-1]}"


def _money(value: Any) -> str:
    amount = Decimal(str(value))
    return f"{amount:.2f}" if amount != amount.to_integral_value() else f"{int(amount)}"
