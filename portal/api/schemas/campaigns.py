"""Campaigns and their actions (rules and effects)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from .common import In, MoneyIn, Name, Out, PageOut, Str100, Tags, UtcDateTime, patch_of


class CampaignIn(In):
    code: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    event_type: Annotated[str, StringConstraints(min_length=1, max_length=100)] = "member-purchase-order-confirmed"
    active: bool = True
    valid_from: UtcDateTime | None = None
    valid_to: UtcDateTime | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] = "UTC"
    days_of_week: list[Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]] = \
        Field(default_factory=list)
    location_codes: Annotated[list[Str100], Field(max_length=500)] = Field(default_factory=list)
    tier_ids: Annotated[list[int], Field(max_length=50)] = Field(default_factory=list)
    audience_ids: Annotated[list[int], Field(max_length=50)] = Field(default_factory=list)
    min_spend: MoneyIn | None = None
    monthly_points_cap: int | None = Field(None, ge=1, le=10**12)
    tags: Tags = Field(default_factory=list)
    loyalty_program_id: int | None = None


class CampaignUpdate(patch_of(CampaignIn, fixed=("code", "loyalty_program_id"))):
    """Only the fields sent change; a campaign's code and programme are fixed."""


class EffectIn(In):
    model_config = In.model_config | {"extra": "allow"}
    type: Literal["award_points", "assign_coupon", "set_tier", "increment_mission", "emit_event"]
    # The objects an effect names (each of the caller's organisation); the other fields depend on the type.
    ledger_account_id: int | None = Field(None, description="award_points: the account credited (default: points)")
    coupon_book_id: int | None = Field(None, description="assign_coupon: the coupon book")
    tier_id: int | None = Field(None, description="set_tier: the tier")
    mission_id: int | None = Field(None, description="increment_mission: the mission")


class ActionIn(In):
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    index: int | None = Field(None, ge=0, le=10_000)
    rules: Annotated[list[Annotated[str, StringConstraints(max_length=4000)]], Field(max_length=50)] = \
        Field(default_factory=list)
    effects: Annotated[list[EffectIn], Field(max_length=20)] = Field(default_factory=list)
    abort_on_false: bool = False
    abort_on_error: bool = True
    status: Literal["draft", "running", "disabled"] = "running"


class ActionUpdate(patch_of(ActionIn)):
    """Only the fields sent change."""


class ActionOut(Out):
    id: int
    campaign_id: int
    index: int
    name: str
    rules: list[str]
    effects: list[dict[str, Any]]
    abort_on_false: bool
    abort_on_error: bool
    status: str


class CampaignOut(Out):
    id: int
    loyalty_program_id: int
    code: str
    name: str
    description: str
    event_type: str
    active: bool
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    timezone: str
    days_of_week: list[str]
    location_codes: list[str]
    tier_ids: list[int]
    audience_ids: list[int]
    min_spend: Decimal | None
    monthly_points_cap: int | None
    tags: list[str]
    actions: list[ActionOut]
    created_at: dt.datetime


class CampaignEnvelope(Out):
    campaign: CampaignOut


class CampaignPage(PageOut):
    results: list[CampaignOut]


class ActionEnvelope(Out):
    action: ActionOut


class ActionList(Out):
    results: list[ActionOut]
