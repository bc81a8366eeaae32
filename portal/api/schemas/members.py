"""Members and identification, a member's points (mint, burn, wallet) and tier."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from .common import (STRICT_QUERY, Amount, CreatedBetween, Id, IdOrderQuery, In, Key, OrderBy, Out, PageOut,
                     StrictListQuery, Tags, Text, UtcDateTime, Whole)
from .ledgers import TransactionOut, TransactionPage  # noqa: F401  (a member's wallet transactions)

IdType = Literal["CARDCODE", "APPCODE", "EXTERNALCODE"]


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


class MemberListQuery(CreatedBetween, StrictListQuery):
    order: OrderBy("createdAt", "id", "loyaltyMemberId", "familyName") | None = None
    email: str | None = None
    loyalty_member_id: str | None = None


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


# --- points ---------------------------------------------------------------------

class MovementIn(In):
    amount: Amount
    system_unique_key: Key | None = None
    description: Text = ""
    tags: Tags = Field(default_factory=list)
    ledger_id: Id | None = None
    ledger_account_id: Id | None = None
    external_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    external_event_date: UtcDateTime | None = None


class TransactionEnvelope(Out):
    transaction: TransactionOut
    ledger_transactions: list[TransactionOut] = Field(
        description="The same transaction in a list (as the transaction endpoints answer)")


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


class OpenWalletIn(In):
    ledger_id: Id | None = Field(None, description="Default: the organisation's default programme")
    ledger_account_id: Id | None = Field(None, description="Default: the ledger's default account, or the "
                                                          "programme's points account")


# --- tier ---------------------------------------------------------------------

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


class WalletTransactionQuery(IdOrderQuery):
    ledger_account_id: Id | None = Field(None, description="The programme's points account unless named")
