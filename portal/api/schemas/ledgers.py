"""Ledgers, accounts and transactions."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from .common import Amount, Id, In, Key, Name, OrderBy, Out, PageOut, StrictListQuery, Tags, Text, UtcDateTime, Whole


class TransactionDetails(In):
    """What a movement of points, or its revert, may carry besides the points: its idempotency key and its
    bookkeeping details."""

    system_unique_key: Key | None = None
    description: Text = ""
    tags: Tags = Field(default_factory=list)
    external_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    external_event_date: UtcDateTime | None = None


class TransactionIn(TransactionDetails):
    amount: Amount
    from_wallet_id: Id | None = None
    to_wallet_id: Id | None = None
    capture_method: Literal["auto", "manual"] = "auto"


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


class RevertIn(TransactionDetails):
    pass


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


class TransactionListQuery(StrictListQuery):
    order: OrderBy("createdAt", "id", "externalEventDate", "amount") | None = None
    wallet_id: Id | None = None
    system_unique_key: str | None = None
    from_external_event_date: UtcDateTime | None = None
    to_external_event_date: UtcDateTime | None = None
    from_ledger_transaction_id: Id | None = None
    to_ledger_transaction_id: Id | None = None
    type: Literal["mint", "burn", "transfer", "capture", "void", "revert"] | None = None


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
