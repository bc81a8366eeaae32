"""Request and response shapes of the JSON API (camelCase, as the seeds).

Requests are parsed strictly: unknown fields are refused (no mass assignment of
`balance` or `organizationId`), "10" is not a number, 1.5 is not an amount.
Responses are built through these models too, so the OpenAPI document and what
the API sends cannot drift apart.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

from ..domain.ledger import MAX_AMOUNT
from ..domain.staff import MIN_PASSWORD_LENGTH, ROLES


# Ids are BIGINT: a larger number cannot name anything (and SQLite cannot even bind it).
MAX_ID = 2 ** 63 - 1


def _storable(value: Any) -> Any:
    """Refuse what no database column can hold: NUL characters (PostgreSQL text) and NaN/Infinity (JSON)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _storable(item)
    return value


class In(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _only_storable_values(cls, value: Any) -> Any:
        return _storable(value)


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def dump(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("must include a timezone, e.g. 2026-11-23T10:00:00Z")
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        raise ValueError("must be a time between the years 1 and 9999 in UTC") from None


def _whole(value: Any) -> Any:
    """10.0 is the integer 10 in JSON (and JSON Schema); 10.5, "10" and true stay refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def Whole(**constraints) -> Any:  # noqa: N802 (a type factory)
    """An integer field with constraints that also accepts an integral JSON number such as 10.0."""
    return Annotated[int, Field(**constraints), BeforeValidator(_whole)]


Amount = Whole(gt=0, le=MAX_AMOUNT, description="Whole points, 1 to 18446744073709")
Key = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(max_length=500)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Tags = Annotated[list[Annotated[str, StringConstraints(max_length=100)]], Field(max_length=50)]
def _iso_datetime(value: Any) -> Any:
    """Only ISO 8601 / RFC 3339 text names a time here (pydantic alone would read 0.5 or "1700000000"
    as Unix time). Parsed here, so strict JSON parsing then receives a datetime."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", value):
        try:
            return dt.datetime.fromisoformat(value.upper())
        except ValueError:
            pass
    raise ValueError("must be an ISO 8601 date-time with a timezone, e.g. 2026-11-23T10:00:00Z")


UtcDateTime = Annotated[dt.datetime, BeforeValidator(_iso_datetime), AfterValidator(_utc)]
Id = Whole(ge=1, le=MAX_ID)
Role = Literal[ROLES]  # type: ignore[valid-type]
IdType = Literal["CARDCODE", "APPCODE", "EXTERNALCODE"]


# --- lists -----------------------------------------------------------------------

def OrderBy(*columns: str) -> Any:  # noqa: N802 (a type factory)
    """The `order` values a list accepts, so that the OpenAPI document lists them too (see parse_order)."""
    return Literal[tuple(f"{column}{direction}" for column in columns for direction in ("", ",asc", ",desc"))]


class ListQuery(In):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
    page: Whole(ge=0, le=10_000_000) = 0
    limit: Whole(ge=1, le=100) = 10
    order: str | None = Field(None, max_length=50, description="column,asc|desc")


# The Foundation's queries refuse unknown parameters, as bodies refuse unknown fields: a misspelt
# filter (`?emial=`) must not silently return every member.
STRICT_QUERY = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class IdOrderQuery(ListQuery):
    """A list ordered by createdAt or id."""

    model_config = STRICT_QUERY
    order: OrderBy("createdAt", "id") | None = None


class UserListQuery(ListQuery):
    model_config = STRICT_QUERY
    order: OrderBy("createdAt", "email") | None = None


class PageOut(Out):
    total_count: int
    page: int
    limit: int


# --- members ---------------------------------------------------------------------

class ProfileIn(In):
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    given_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    family_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    birth_date: dt.date | None = None
    phone: Annotated[str, StringConstraints(max_length=50)] | None = None
    street: Annotated[str, StringConstraints(max_length=200)] | None = None
    city: Annotated[str, StringConstraints(max_length=100)] | None = None
    zip_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    country_code: Annotated[str, StringConstraints(max_length=2)] | None = None

    def given(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_unset=True)


class MemberCreate(In):
    loyalty_member_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    member_type: Annotated[str, StringConstraints(max_length=50)] = "individual"
    profile: ProfileIn = Field(default_factory=ProfileIn)
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    active: bool = True
    referral_code: Annotated[str, StringConstraints(max_length=100)] | None = None
    locale: Annotated[str, StringConstraints(max_length=10)] | None = None


class MemberUpdate(In):
    loyalty_member_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    member_type: Annotated[str, StringConstraints(max_length=50)] | None = None
    profile: ProfileIn | None = None
    custom_attributes: dict[str, Any] | None = None
    active: bool | None = None
    account_status: Literal["ACTIVE", "LOCKED"] | None = None
    locale: Annotated[str, StringConstraints(max_length=10)] | None = None
    update_reason: Text = ""


class MemberListQuery(ListQuery):
    model_config = STRICT_QUERY
    order: OrderBy("createdAt", "id", "loyaltyMemberId", "familyName") | None = None
    email: str | None = None
    loyalty_member_id: str | None = None
    from_created_at: UtcDateTime | None = None
    to_created_at: UtcDateTime | None = None


class MemberBatch(In):
    member_ids: Annotated[list[Id], Field(min_length=1, max_length=100)]


class IdentifierIn(In):
    type: IdType
    code: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class IdentifierOut(Out):
    type: str
    code: str
    created_at: dt.datetime


class ProfileOut(Out):
    email: str | None
    given_name: str
    family_name: str
    birth_date: dt.date | None
    phone: str
    street: str
    city: str
    zip_code: str
    country_code: str


class TierRef(Out):
    loyalty_program_id: int
    loyalty_tier_id: int | None
    name: str | None
    source: str | None
    expires_at: dt.datetime | None


class MemberOut(Out):
    id: int
    organization_id: int
    loyalty_member_id: str
    member_type: str
    active: bool
    account_status: str
    profile: ProfileOut
    custom_attributes: dict[str, Any]
    identifiers: list[IdentifierOut]
    tiers: list[TierRef]
    locale: str
    created_at: dt.datetime
    updated_at: dt.datetime


class MemberEnvelope(Out):
    member: MemberOut


class MemberPage(PageOut):
    results: list[MemberOut]


class MemberBatchOut(Out):
    members: list[MemberOut]
    not_found: list[int]


class LookupQuery(In):
    model_config = STRICT_QUERY
    id_type: Literal["CARDCODE", "APPCODE", "EXTERNALCODE", "ID"] = "CARDCODE"
    code: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class SearchQuery(In):
    model_config = STRICT_QUERY
    q: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    type: Literal["ACCOUNT"] = "ACCOUNT"
    limit: Whole(ge=1, le=100) = 20


class SearchHit(Out):
    ref_id: str
    preview: str
    type: str


class SearchOut(Out):
    search_term: str
    nr_of_results: int
    results: dict[str, list[SearchHit]]


# --- ledger ---------------------------------------------------------------------

class MovementIn(In):
    amount: Amount
    system_unique_key: Key | None = None
    description: Text = ""
    tags: Tags = Field(default_factory=list)
    ledger_id: Id | None = None
    ledger_account_id: Id | None = None
    external_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    external_event_date: UtcDateTime | None = None


class TransactionIn(In):
    amount: Amount
    from_wallet_id: Id | None = None
    to_wallet_id: Id | None = None
    capture_method: Literal["auto", "manual"] = "auto"
    system_unique_key: Key | None = None
    description: Text = ""
    tags: Tags = Field(default_factory=list)
    external_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    external_event_date: UtcDateTime | None = None


class SetItemIn(TransactionIn):
    ledger_account_id: Id


class TransactionSetIn(In):
    transactions: Annotated[list[SetItemIn], Field(min_length=1, max_length=100)]
    system_unique_key: Key | None = None


class BatchItemIn(SetItemIn):
    ledger_id: Id
    atomic_set_id: Whole() | Annotated[str, StringConstraints(max_length=100)] | None = None
    organization_id: Whole() | None = Field(None, description="Optional; when given it must be the path's organisation")


class BatchIn(In):
    items: Annotated[list[BatchItemIn], Field(min_length=1, max_length=500)]


class RevertIn(In):
    system_unique_key: Key | None = None
    description: Text = ""
    tags: Tags = Field(default_factory=list)
    external_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    external_event_date: UtcDateTime | None = None


class CaptureItemIn(In):
    ledger_transaction_id: Id | Annotated[str, StringConstraints(max_length=30)]
    capture_amount: Amount | None = None


class CaptureIn(In):
    transactions: Annotated[list[CaptureItemIn], Field(min_length=1, max_length=100)]


class TransactionOut(Out):
    id: int
    ledger_transaction_id: int
    ledger_id: int
    ledger_account_id: int
    type: str
    status: str
    amount: int
    from_wallet_id: int
    to_wallet_id: int
    member_id: int | None
    pending_capture_ledger_transaction_id: int | None
    reverts_ledger_transaction_id: int | None
    atomic_set_id: str | None
    system_unique_key: str | None
    external_id: str | None
    external_event_date: dt.datetime | None
    description: str
    tags: list[str]
    actor: dict[str, Any]
    created_at: dt.datetime


class TransactionEnvelope(Out):
    transaction: TransactionOut


class TransactionsOut(Out):
    transactions: list[TransactionOut]


class TransactionPage(PageOut):
    results: list[TransactionOut]


class BatchFailure(Out):
    index: int
    status: int
    title: str
    detail: str
    errors: dict[str, list[str]]


class BatchOut(Out):
    processed: list[TransactionOut]
    failed: list[BatchFailure]


class TransactionListQuery(ListQuery):
    model_config = STRICT_QUERY
    order: OrderBy("createdAt", "id", "externalEventDate", "amount") | None = None
    wallet_id: Id | None = None
    system_unique_key: str | None = None
    from_external_event_date: UtcDateTime | None = None
    to_external_event_date: UtcDateTime | None = None
    from_ledger_transaction_id: Id | None = None
    to_ledger_transaction_id: Id | None = None
    type: Literal["mint", "burn", "transfer", "capture", "void", "revert"] | None = None


class WalletTransactionQuery(ListQuery):
    model_config = STRICT_QUERY
    order: OrderBy("createdAt", "id") | None = None
    ledger_account_id: Id | None = Field(None, description="The programme's points account unless named")


class BalanceOut(Out):
    ledger_id: int
    ledger_account_id: int
    name: str
    wallet_id: int | None
    balance: int
    available: int
    pending: int
    held: int


class WalletOut(Out):
    member_id: int
    balances: list[BalanceOut]


class LedgerIn(In):
    name: Name
    description: Text = ""


class LedgerOut(Out):
    id: int
    name: str
    description: str
    default_account_id: int | None
    created_at: dt.datetime


class LedgerEnvelope(Out):
    ledger: LedgerOut


class LedgerPage(PageOut):
    results: list[LedgerOut]


class AccountIn(In):
    name: Name
    active: bool = True
    is_currency: bool = False
    decimals: Whole(ge=0, le=6) = 0
    format_string: Annotated[str, StringConstraints(max_length=100)] = ""
    max_supply: Amount | None = None
    expires_in_months: Whole(ge=1, le=120) | None = None
    is_default_account: bool = False


class AccountOut(Out):
    id: int
    ledger_id: int
    name: str
    active: bool
    is_currency: bool
    decimals: int
    format_string: str
    max_supply: int | None
    expires_in_months: int | None
    is_default_account: bool
    minted: int
    burned: int
    circulating: int
    created_at: dt.datetime


class AccountEnvelope(Out):
    ledger_account: AccountOut


class AccountPage(PageOut):
    results: list[AccountOut]


# --- programmes and tiers ---------------------------------------------------------------

class ProgramIn(In):
    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    points_expire_in_months: Whole(ge=1, le=120) | None = None


class ProgramUpdate(In):
    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ProgramOut(Out):
    id: int
    name: str
    description: str
    is_default: bool
    ledger_id: int
    points_account_id: int
    tier_points_account_id: int
    created_at: dt.datetime


class ProgramEnvelope(Out):
    loyalty_program: ProgramOut


class ProgramPage(PageOut):
    results: list[ProgramOut]


class TierIn(In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    min_points: Whole(ge=0, le=MAX_AMOUNT)
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    color: Annotated[str, StringConstraints(max_length=20)] = ""


class TierUpdate(In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)] | None = None
    min_points: Whole(ge=0, le=MAX_AMOUNT) | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    color: Annotated[str, StringConstraints(max_length=20)] | None = None


class TierOut(Out):
    id: int
    loyalty_program_id: int
    name: str
    description: str
    min_points: int
    color: str
    created_at: dt.datetime


class TierEnvelope(Out):
    loyalty_tier: TierOut


class TierPage(PageOut):
    results: list[TierOut]


class SetTierIn(In):
    loyalty_tier_id: Id | None
    expires_at: UtcDateTime | None = None
    reason: Text = "manual"


class MemberTierOut(Out):
    member_id: int
    loyalty_program_id: int
    loyalty_tier_id: int | None
    source: str
    expires_at: dt.datetime | None
    updated_at: dt.datetime


class MemberTierEnvelope(Out):
    member_tier: MemberTierOut


class TierHistoryOut(Out):
    id: int
    from_tier_id: int | None
    to_tier_id: int | None
    source: str
    reason: str
    expires_at: dt.datetime | None
    created_at: dt.datetime


class TierHistoryList(Out):
    results: list[TierHistoryOut]


# --- staff ------------------------------------------------------------------------

class ApiKeyIn(In):
    name: Name
    roles: Annotated[list[Role], Field(min_length=1)]


class ApiKeyOut(Out):
    id: int
    name: str
    prefix: str
    roles: list[str]
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    api_key: str | None = Field(None, description="The secret; returned once, at creation")


class ApiKeyEnvelope(Out):
    api_key: ApiKeyOut


class ApiKeyPage(PageOut):
    results: list[ApiKeyOut]


class StaffUserIn(In):
    email: Annotated[str, StringConstraints(min_length=3, max_length=254)]
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    password: Annotated[str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=200)]
    roles: Annotated[list[Role], Field(min_length=1)]


class StaffUserOut(Out):
    id: int
    email: str
    name: str
    roles: list[str]
    active: bool
    created_at: dt.datetime


class StaffUserEnvelope(Out):
    user: StaffUserOut


class StaffUserPage(PageOut):
    results: list[StaffUserOut]


class AuditOut(Out):
    id: int
    actor_kind: str
    actor_id: int | None
    actor_label: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    created_at: dt.datetime


class AuditPage(PageOut):
    results: list[AuditOut]
