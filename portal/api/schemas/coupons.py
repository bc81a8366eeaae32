"""Coupon books, codes, assign/use/revert, a member's coupons, and the point of sale.

Field names follow the seeds: the loyalty core platform document for coupon
books and usages, the Convercus manual for account coupons.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from ...domain.coupons import PUBLISHING_STATUSES, TYPES
from .common import In, IntegerId, Key, ListQuery, Name, Out, PageOut, Tags, UtcDateTime

Short = Annotated[str, StringConstraints(max_length=255)]
Url = Annotated[str, StringConstraints(max_length=1000)]
LongText = Annotated[str, StringConstraints(max_length=2000)]
Limit = Annotated[int, Field(ge=1, le=10**9, description="1 or more; null means no limit")]
Points = Annotated[int, Field(ge=0, le=10**12)]
Money = Annotated[Decimal, Field(ge=0, lt=10**12, max_digits=14, decimal_places=2)]
CodeText = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Location = Annotated[str, StringConstraints(max_length=100)]


# --- coupon books ------------------------------------------------------------------------

class I18nTextsIn(In):
    title: Annotated[str, StringConstraints(max_length=200)] | None = None
    subtitle: Annotated[str, StringConstraints(max_length=200)] | None = None
    description: LongText | None = None
    booking_text: Annotated[str, StringConstraints(max_length=200)] | None = None


class CouponBookFields(In):
    loyalty_program_id: IntegerId | None = None
    external_id: Short | None = None
    external_reference: Short | None = Field(None, description="What the till acts on (Convercus)")
    ranking_index: int | None = Field(None, ge=-10**6, le=10**6)
    audience_keys: Tags | None = None
    description: LongText | None = Field(None, description="Text in the default locale (shorthand for i18n)")
    subtitle: Annotated[str, StringConstraints(max_length=200)] | None = None
    picture_url: Url | None = None
    detail_picture_url: Url | None = None
    custom_attributes: dict[str, Any] | None = None
    condition: dict[str, Any] | None = Field(None, description=(
        "What a purchase must be for a coupon of the book to apply, at a use at the till and on a purchase: "
        "minTotal (of the qualifying lines), includedProducts / excludedProducts (SKUs), includedCategories / "
        "excludedCategories, locationCodes, daysOfWeek (monday..sunday) and fromTime / toTime (HH:MM, the "
        "organisation's timezone), firstPurchaseOnly, combinable (false: the purchase's only coupon). A use at "
        "the till of a book with a basket condition must send `purchase`."))
    discount_amount: Money | None = None
    discount_type: Literal["percentage", "fixed"] | None = None
    tags: Tags | None = None
    tiers: Annotated[list[Annotated[str, StringConstraints(max_length=20)] | int], Field(max_length=50)] | None = None
    valid_from_date: UtcDateTime | None = None
    valid_to_date: UtcDateTime | None = None
    max_assigned_per_member: Limit | None = None
    max_assigned_per_coupon: Limit | None = Field(None, description="1 (default): single-use codes")
    max_coupon_count: Limit | None = None
    default_locale: Annotated[str, StringConstraints(min_length=2, max_length=10)] | None = None
    assignment_required_points: Points | None = None
    usage_required_points: Points | None = None
    activatable: bool | None = None
    i18n: Annotated[dict[Annotated[str, StringConstraints(min_length=2, max_length=10)], I18nTextsIn],
                    Field(max_length=20)] | None = Field(None, alias="i18n")


class CouponBookIn(CouponBookFields):
    name: Name
    type: Literal[TYPES]  # type: ignore[valid-type]
    publishing_status: Literal[PUBLISHING_STATUSES] = "draft"  # type: ignore[valid-type]


class CouponBookUpdate(CouponBookFields):
    name: Name | None = None
    publishing_status: Literal[PUBLISHING_STATUSES] | None = None  # type: ignore[valid-type]


class CouponBookListQuery(ListQuery):
    status: Literal[PUBLISHING_STATUSES] | None = None  # type: ignore[valid-type]
    tags: Annotated[str, StringConstraints(max_length=500)] | None = Field(None, description="comma-separated")
    search: Annotated[str, StringConstraints(max_length=100)] | None = None
    loyalty_program_id: IntegerId | None = None
    audiences: Annotated[str, StringConstraints(max_length=100)] | None = None
    locale: Annotated[str, StringConstraints(max_length=10)] | None = None


class LocaleQuery(In):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
    locale: Annotated[str, StringConstraints(max_length=10)] | None = None


class I18nTextsOut(Out):
    title: str = ""
    subtitle: str = ""
    description: str = ""
    booking_text: str = ""


class CouponBookOut(Out):
    id: int
    organization_id: int
    loyalty_program_id: IntegerId
    name: str
    type: str
    publishing_status: str
    discount_type: str | None
    discount_amount: float | int | None
    valid_from_date: dt.datetime | None
    valid_to_date: dt.datetime | None
    max_assigned_per_member: int | None
    max_assigned_per_coupon: int | None
    max_coupon_count: int | None
    assignment_required_points: int
    usage_required_points: int
    activatable: bool
    tiers: list[str]
    audience_keys: list[str]
    tags: list[str]
    external_id: str | None
    external_reference: str | None
    ranking_index: int
    default_locale: str
    i18n: dict[str, I18nTextsOut] = Field(alias="i18n")
    title: str
    subtitle: str
    description: str
    booking_text: str
    picture_url: str | None
    detail_picture_url: str | None
    condition: dict[str, Any]
    custom_attributes: dict[str, Any]
    assigned_count: int
    used_count: int
    code_count: int
    created_at: dt.datetime
    updated_at: dt.datetime


class CouponBookEnvelope(Out):
    coupon_book: CouponBookOut


class CouponBookPage(PageOut):
    results: list[CouponBookOut]


# --- codes ---------------------------------------------------------------------------------

class GenerateCodesIn(In):
    count: int = Field(ge=1, le=20_000)
    prefix: Annotated[str, StringConstraints(max_length=20)] = ""
    length: int | None = Field(None, ge=8, le=32, description="Random characters; at least what the pool size needs")


class CouponCodesIn(In):
    codes: Annotated[list[Annotated[str, StringConstraints(max_length=200)]], Field(min_length=1,
                                                                                    max_length=20_000)] | None = None
    generate: GenerateCodesIn | None = None


class CouponCodesAdded(Out):
    coupon_book_id: IntegerId
    added: int
    codes: list[str]


class CouponCodeOut(Out):
    id: int
    coupon_book_id: IntegerId
    code: str
    status: str = Field(description="free, assigned, used, inactive or expired")
    active: bool
    expired_at: dt.datetime | None
    assigned_count: int
    used_count: int
    created_at: dt.datetime


class CouponCodeUpdate(In):
    """Only the fields sent change. memberId assigns the code to that member; null withdraws its unused
    assignment."""

    code: CodeText | None = Field(None, description="A new text, for a code never handed out")
    active: bool | None = Field(None, description="false: the code is neither handed out nor used")
    expired_at: UtcDateTime | None = Field(None, description="The code's own end; null: none")
    member_id: IntegerId | None = None


class CouponCodeEnvelope(Out):
    coupon_code: CouponCodeOut


class CouponCodePage(PageOut):
    results: list[CouponCodeOut]


class CouponCodeListQuery(ListQuery):
    status: Literal["free", "assigned", "used"] | None = None
    code: Annotated[str, StringConstraints(max_length=100)] | None = None


# --- assign, use, revert -------------------------------------------------------------------

class AssignIn(In):
    member_id: IntegerId
    number_of_codes: int = Field(1, ge=1, le=100)
    codes: Annotated[list[CodeText], Field(min_length=1, max_length=100)] | None = Field(
        None, description="These codes of the pool (then numberOfCodes is their count)")
    strict_mode: bool = False
    system_unique_keys: Annotated[list[Key], Field(max_length=100)] | None = None
    expired_at: UtcDateTime | None = None
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    location_code: Location | None = None


class ClaimIn(In):
    system_unique_key: Key | None = None


class PurchaseItemIn(In):
    sku: Annotated[str, StringConstraints(max_length=100)]
    quantity: int = Field(1, ge=1, le=10**6)
    unit_price: Annotated[Decimal, Field(gt=-10**12, lt=10**12, max_digits=14, decimal_places=2)]
    product_category_code: Annotated[str, StringConstraints(max_length=100)] | None = None
    is_discount: bool = False


class PurchaseIn(In):
    """The purchase a coupon is used on, for the book's condition (minTotal, products, categories,
    combinable)."""

    total: Money
    external_id: Short | None = Field(None, description="The purchase order's externalId: coupons used on the "
                                                        "same one count for `combinable`")
    items: Annotated[list[PurchaseItemIn], Field(max_length=1000)] = Field(default_factory=list)


class UseIn(In):
    member_id: IntegerId
    code: CodeText | None = None
    system_unique_key: Key
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    location_code: Location | None = None
    purchase: PurchaseIn | None = None


class ActorOut(Out):
    kind: str
    id: int | None
    label: str


class CouponUsageOut(Out):
    id: int
    action: Literal["assigned", "used"]
    status: str
    coupon_book_id: IntegerId
    member_id: IntegerId
    coupon_code_id: int | None
    code: str | None
    assignment_id: int | None
    account_coupon_id: str
    expired_at: dt.datetime | None
    used_at: dt.datetime | None
    reverted_at: dt.datetime | None
    system_unique_key: str | None
    location_code: str | None
    interaction_point: str | None
    points_burned: int
    ledger_transaction_id: int | None
    custom_attributes: dict[str, Any]
    actor: ActorOut
    created_at: dt.datetime


class CouponUsagesOut(Out):
    coupon_usages: list[CouponUsageOut]


class CouponUsagePage(PageOut):
    results: list[CouponUsageOut]


class CouponUsageListQuery(ListQuery):
    kind: Literal["assign", "use"] | None = None
    member_id: IntegerId | None = None


# --- a member's coupons and books ----------------------------------------------------------

class MemberCouponQuery(ListQuery):
    coupon_book_id: IntegerId | None = None
    not_used_only: bool = False
    coupon_book_tags: Annotated[str, StringConstraints(max_length=500)] | None = None
    coupon_code_id: IntegerId | None = None
    coupon_code: Annotated[str, StringConstraints(max_length=100)] | None = None
    locale: Annotated[str, StringConstraints(max_length=10)] | None = None


class CouponSummary(Out):
    id: int
    name: str
    type: str
    discount_type: str | None
    discount_amount: float | int | None
    title: str
    subtitle: str
    picture_url: str | None
    valid_from_date: dt.datetime | None
    valid_to_date: dt.datetime | None
    external_reference: str | None
    tags: list[str]


class MemberCouponOut(Out):
    id: int
    coupon_book_id: IntegerId
    coupon_code_id: int | None
    code: str | None
    status: str = Field(description="available | upcoming | used | expired | unavailable | reverted")
    usable: bool
    activated: bool | None
    account_coupon_id: str
    expired_at: dt.datetime | None
    assigned_at: dt.datetime
    used_at: dt.datetime | None
    coupon_book: CouponSummary


class MemberCouponPage(PageOut):
    results: list[MemberCouponOut]


class MemberBookQuery(ListQuery):
    tags: Annotated[str, StringConstraints(max_length=500)] | None = None
    coupon_book_id: IntegerId | None = None
    out_of_stock: bool = True
    locale: Annotated[str, StringConstraints(max_length=10)] | None = None


class RefusalOut(Out):
    code: str
    title: str
    detail: str
    field: str | None


class MemberBookOut(CouponBookOut):
    member_assigned_count: int
    member_used_count: int
    claimable: bool
    refusal: RefusalOut | None
    account_coupon_id: str


class MemberBookPage(PageOut):
    results: list[MemberBookOut]


class UsageCountQuery(In):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
    valid_from_date: dt.datetime | None = None
    valid_to_date: dt.datetime | None = None


class UsageCountOut(Out):
    amount_used: int
    amount_assigned: int


# --- point of sale (Convercus) ---------------------------------------------------------------

class ExternalCodeOut(Out):
    value: str
    type: str = "TEXT"


class ActivationOut(Out):
    activatable: bool
    activated: bool | None
    last_activation_date: dt.datetime | None


class I18nFieldsOut(Out):
    # Convercus spells it subTitle.
    model_config = ConfigDict(alias_generator=None, populate_by_name=True)
    title: str
    subTitle: str
    description: str
    bookingText: str


class ImageOut(Out):
    path: str
    tags: list[str]


class CustomPropertyOut(Out):
    name: str
    value: Any


class AccountCouponOut(Out):
    account_coupon_id: str
    account_id: str
    coupon_id: int
    usage_type: str
    discount_type: str | None
    coupon_value: float | int
    external_reference: str | None
    external_code: ExternalCodeOut | None
    max_redeem_count: int | None
    max_redeem_count_global: int | None
    redeem_count: int
    redeem_count_global: int
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    i18n_fields: dict[str, I18nFieldsOut] = Field(alias="i18nFields")
    images: list[ImageOut]
    custom_properties: list[CustomPropertyOut]
    activation: ActivationOut


class AccountCouponList(Out):
    results: list[AccountCouponOut]


class AccountCouponEnvelope(Out):
    account_coupon: AccountCouponOut


class ActivationIn(In):
    activated: bool


class RedeemIn(In):
    system_unique_key: Key
    location_code: Location | None = None
    purchase: PurchaseIn | None = None


class RedeemOut(Out):
    account_coupon: AccountCouponOut
    coupon_usages: list[CouponUsageOut]
