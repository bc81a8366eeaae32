"""Referral programmes, members' referral codes, and who referred whom."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from ...domain import earning, referrals
from .common import EventName, In, ListQuery, Name, Out, PageOut, UtcDateTime, patch_of

Points = Annotated[int, Field(ge=0, le=referrals.MAX_POINTS)]
Cap = Annotated[int, Field(ge=1, le=1_000_000_000)]
CodeText = Annotated[str, StringConstraints(min_length=4, max_length=40, strip_whitespace=True)]


class ProgramIn(In):
    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    event_type: EventName = Field(earning.PURCHASE_CONFIRMED,
                                  description="The friend's qualifying event, e.g. member-purchase-order-confirmed "
                                              "(first confirmed purchase) or member-created (signup)")
    referrer_points: Points = 0
    referred_points: Points = 0
    ledger_account_id: int | None = None
    max_referrals_per_member: Cap | None = Field(None, description="Rewarded referrals per referrer; null: no cap")
    max_uses_per_code: Cap | None = Field(None, description="Rewarded referrals per code; null: no cap")
    active: bool = True
    valid_from_date: UtcDateTime | None = None
    valid_to_date: UtcDateTime | None = None


class ProgramUpdate(patch_of(ProgramIn)):
    """Only the fields sent change."""


class ProgramOut(Out):
    id: int
    name: str
    description: str
    event_type: str
    referrer_points: int
    referred_points: int
    ledger_account_id: int | None
    max_referrals_per_member: int | None
    max_uses_per_code: int | None
    active: bool
    valid_from_date: dt.datetime | None
    valid_to_date: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ProgramEnvelope(Out):
    referral_program: ProgramOut


class ProgramPage(PageOut):
    results: list[ProgramOut]


class CodesIn(In):
    member_id: int = Field(description="The member who will share the code(s)")
    codes: Annotated[list[CodeText], Field(max_length=20)] | None = Field(
        None, description="Codes of your own choosing; one is generated when omitted")


class CodeOut(Out):
    id: int
    referral_program_id: int
    member_id: int
    code: str
    share_path: str
    uses: int
    rewarded: int
    created_at: dt.datetime


class CodesOut(Out):
    referral_codes: list[CodeOut]


class CodePage(PageOut):
    results: list[CodeOut]


class CodeListQuery(ListQuery):
    member_id: int | None = None


class MemberRef(Out):
    member_id: int
    loyalty_member_id: str


class ReferralOut(Out):
    id: int
    referral_program_id: int
    referral_code_id: int
    code: str
    referrer: MemberRef
    referred: MemberRef
    status: str
    reason: str
    referrer_points: int
    referred_points: int
    referrer_ledger_transaction_id: int | None
    referred_ledger_transaction_id: int | None
    created_at: dt.datetime
    completed_at: dt.datetime | None


class ReferralPage(PageOut):
    results: list[ReferralOut]


class ReportQuery(ListQuery):
    status: Literal["pending", "completed", "rejected"] | None = None
