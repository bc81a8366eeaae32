"""Missions and stamp cards, members' progress, and manual increments."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from ...domain import missions
from .common import (EffectOut, EventName, In, Key, ListQuery, Name, Out, PageOut, Tags, Text, UtcDateTime,
                     patch_of)

Kind = Literal["mission", "stampcard"]
Period = Literal["none", "day", "week", "month"]
Matcher = Annotated[str, StringConstraints(max_length=4000)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Count = Annotated[int, Field(ge=1, le=1_000_000)]


class MissionIn(In):
    name: Name
    code: Code | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    kind: Kind = "mission"
    event_type: EventName
    matcher: Matcher | None = Field(None, description="A rule expression over the event, e.g. order.total >= 20")
    goal_count: Annotated[int, Field(ge=1, le=missions.MAX_INCREMENT)]
    max_repetitions: Count | None = Field(None, description="Completions per member overall; null is unlimited")
    repetition_period: Period = "none"
    period_limit: Count | None = Field(None, description="Completions per member per repetition period")
    points_on_completion: Annotated[int, Field(ge=0, le=missions.MAX_POINTS)] = 0
    ledger_account_id: int | None = None
    active: bool = True
    valid_from: UtcDateTime | None = None
    valid_to: UtcDateTime | None = None
    tags: Tags = Field(default_factory=list)


class MissionUpdate(patch_of(MissionIn)):
    """Only the fields sent change."""


class MissionOut(Out):
    id: int
    code: str
    name: str
    description: str
    kind: str
    event_type: str
    matcher: str | None
    goal_count: int
    max_repetitions: int | None
    repetition_period: str
    period_limit: int | None
    points_on_completion: int
    ledger_account_id: int | None
    active: bool
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    tags: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime


class MissionEnvelope(Out):
    mission: MissionOut


class MissionPage(PageOut):
    results: list[MissionOut]


class MissionListQuery(ListQuery):
    active: bool | None = None
    kind: Kind | None = None
    event_type: str | None = None


class MemberMissionsQuery(ListQuery):
    active: bool | None = Field(True, description="Only running missions (default); false lists inactive ones too")
    kind: Kind | None = None


class ProgressOut(Out):
    mission_id: int
    mission: MissionOut
    counter: int
    goal_count: int
    remaining: int
    completions: int
    completions_in_period: int
    period_key: str
    available: bool
    last_completed_at: dt.datetime | None


class ProgressPage(PageOut):
    results: list[ProgressOut]


class IncrementIn(In):
    amount: Annotated[int, Field(ge=1, le=missions.MAX_INCREMENT)]
    system_unique_key: Key | None = None
    external_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    description: Text = ""
    tags: Tags = Field(default_factory=list)
    external_event_date: UtcDateTime | None = None


class IncrementOut(Out):
    progress: ProgressOut
    effects: list[EffectOut]
