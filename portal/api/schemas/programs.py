"""Loyalty programmes and their tiers."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints, WithJsonSchema

from ...domain.ledger import MAX_AMOUNT
from .common import In, Name, Out, PageOut, Whole, patch_of


class ProgramIn(In):
    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    points_expire_in_months: Whole(ge=1, le=120) | None = None


# What one point pays at the till, in money. Documented as a number (a numeric string is accepted too).
PointValue = Annotated[Decimal, Field(gt=0, le=Decimal("1e9"), max_digits=14, decimal_places=4),
                       WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 1e9, "multipleOf": 0.0001,
                                       "description": "What one point pays at the till, in money"})]


class ProgramUpdate(In):
    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    point_value: PointValue | None = None


class ProgramOut(Out):
    id: int
    name: str
    description: str
    is_default: bool
    ledger_id: int
    points_account_id: int
    tier_points_account_id: int
    point_value: Decimal | None
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


class TierUpdate(patch_of(TierIn)):
    """Only the fields sent change; null leaves a field as it is."""


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
