"""Purchase orders and what they earned."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from ...domain.holds import DEFAULT_MINUTES, MAX_MINUTES
from ...domain.ledger import MAX_AMOUNT
from .common import Amount, EffectOut, Id, In, Key, MoneyIn, Out, PageOut, Str100, UtcDateTime, Whole


class ItemIn(In):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    quantity: int = Field(1, ge=1, le=1_000_000)
    unit_price: Annotated[Decimal, Field(ge=Decimal("-1e12"), le=Decimal("1e12"), max_digits=14, decimal_places=2)]
    product_category_code: Str100 | None = None
    is_discount: bool = False


class OrderIn(In):
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    type: Annotated[str, StringConstraints(max_length=32)] = "purchase"
    status: Literal["created", "confirmed", "cancelled", "returned", "partially-returned"]
    total: MoneyIn
    discounted_total: MoneyIn | None = None
    returned_total: MoneyIn | None = None
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)] = "EUR"
    items: Annotated[list[ItemIn], Field(max_length=1000)] = Field(default_factory=list)
    location_code: Annotated[str, StringConstraints(max_length=64)] | None = None
    external_event_date: UtcDateTime | None = None
    system_unique_key: Key | None = None
    # Paying with points: how many, and what they paid in money (points paid never earn); or capture a
    # reservation (pointsRedeemed defaults to all it holds; fewer when the basket shrank, the rest released).
    points_redeemed: Whole(ge=0, le=MAX_AMOUNT) | None = None
    points_redeemed_value: MoneyIn | None = None
    reservation_id: Id | None = None


class MemberOrderIn(OrderIn):
    """An order that names its member, by id or by loyaltyMemberId."""

    member_id: int | None = None
    loyalty_member_id: str | None = None


class SimulateIn(MemberOrderIn):
    status: Literal["created", "confirmed", "cancelled", "returned", "partially-returned"] = "confirmed"


class ImportRow(MemberOrderIn):
    pass  # one order of an import: the name the OpenAPI document gives it


class ImportIn(In):
    orders: Annotated[list[ImportRow], Field(min_length=1, max_length=1000)]


class ItemOut(Out):
    sku: str
    quantity: int
    unit_price: Decimal
    product_category_code: str | None
    is_discount: bool


class OrderOut(Out):
    id: int
    member_id: int
    external_id: str
    type: str
    status: str
    currency: str
    total: Decimal
    discounted_total: Decimal | None
    returned_total: Decimal
    location_code: str | None
    external_event_date: dt.datetime | None
    points_awarded: int
    points_earned: int
    points_redeemed: int
    points_redeemed_value: Decimal
    points_given_back: int
    reservation_id: int | None
    open_debt: int = Field(description="Points this order's returns took back that the member had spent, not yet settled")
    items: list[ItemOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class EvaluationOut(Out):
    points_awarded: int
    points_taken_back: int = 0
    debt_recorded: int = Field(0, description=(
        "Points a cancel or return could not take back because the member had spent them, now owed. A coupon the "
        "order awarded that was already used stays used and is owed too: an EXTRAPOINT coupon its points; a "
        "DISCOUNT or REWARD coupon its money value (fixed amount, or the percentage of the purchase it was used "
        "on) divided by the programme's pointValue, rounded down, less the points paid to use it. Without a "
        "pointValue a money coupon is not owed: the order's audit entry `order.used_coupon_kept` records it "
        "(valued false)."))
    points_given_back: int = 0
    effects: list[EffectOut]
    errors: list[dict[str, Any]]


class OrderEnvelope(Out):
    order: OrderOut


class OrderResultOut(Out):
    order: OrderOut
    evaluation_results: EvaluationOut


class SimulationOut(Out):
    evaluation_results: EvaluationOut


class OrderPage(PageOut):
    results: list[OrderOut]


class ImportResultOut(Out):
    """What one row of an import did. `outcome`: applied (created or moved on), unchanged (already so),
    replayed (its systemUniqueKey was seen with this same order); `pointsEarned`/`pointsTakenBack`: by this
    row, 0 on a re-run; `pointsAwarded`: what the order holds now."""
    index: int
    status: Literal["ok", "failed"]
    external_id: str | None = None
    outcome: Literal["applied", "unchanged", "replayed"] | None = None
    order_id: int | None = None
    order_status: str | None = None
    points_earned: int | None = None
    points_taken_back: int | None = None
    points_awarded: int | None = None
    error: dict[str, Any] | None = None


class ImportOut(Out):
    results: list[ImportResultOut]


class ReservationIn(In):
    points: Amount
    expires_in_minutes: Whole(ge=1, le=MAX_MINUTES) = DEFAULT_MINUTES
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    system_unique_key: Key | None = None


class ReservationOut(Out):
    """Points held at the till. status: held, captured (by the order that paid with them), released, expired."""
    id: int
    member_id: int
    points: int
    captured: int
    status: Literal["held", "captured", "released", "expired"]
    external_id: str | None
    pending_ledger_transaction_id: int
    expires_at: dt.datetime
    created_at: dt.datetime
    resolved_at: dt.datetime | None


class ReservationResultOut(Out):
    reservation: ReservationOut


class DebtOut(Out):
    id: int
    order_id: int | None
    ledger_account_id: int
    amount: int
    settled: int
    created_at: dt.datetime


class DebtsOut(Out):
    """Points taken back by returns that the member had already spent; settled from the member's next earnings of
    any kind (purchases, missions, referrals, campaigns on custom events, grants, staff corrections), oldest first,
    one ledger line each ("Debt from order ... settled")."""
    open_debt: int
    results: list[DebtOut]
