"""Loyalty event types, tracked custom events, and a member's event feed."""
from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from .common import (CreatedBetween, EffectOut, EventName, In, ListQuery, Out, PageOut, Tags, Text, UtcDateTime,
                     patch_of)

MAX_PAYLOAD = 16_000  # characters of JSON


class EventTypeIn(In):
    name: EventName = Field(description="A slug: lower-case letters, digits and hyphens (app-review-written)")
    description: Text = ""
    active: bool = True


class EventTypeUpdate(patch_of(EventTypeIn, fixed=("name",))):
    """Change an event type's description or switch it off; its name, which events are tracked by, is fixed."""


class EventTypeOut(Out):
    id: int
    name: str
    description: str
    active: bool
    schema_type: str = "custom"
    created_at: dt.datetime
    updated_at: dt.datetime


class EventTypeEnvelope(Out):
    event_type: EventTypeOut


class EventTypePage(PageOut):
    results: list[EventTypeOut]
    builtin_event_types: list[str] = Field(description="Raised by their own resources; missions may listen to them")


class EventTypeQuery(ListQuery):
    active: bool | None = None


class TrackIn(In):
    system_unique_key: Annotated[str, StringConstraints(min_length=3, max_length=255)]
    member_id: int = Field(ge=1)
    event_type: EventName
    payload: dict[str, Any] = Field(default_factory=dict)
    external_event_date: UtcDateTime | None = None
    external_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    description: Text = ""
    tags: Tags = Field(default_factory=list)
    organization_id: int | None = Field(None, description="Ignored; the token's organisation applies")

    @field_validator("payload")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, default=str)) > MAX_PAYLOAD:
            raise ValueError(f"payload must be at most {MAX_PAYLOAD} characters of JSON")
        return value


class TrackOut(Out):
    system_unique_key: str
    effects: list[EffectOut]


class FeedQuery(CreatedBetween, ListQuery):
    event_type: str | None = None


class FeedItemOut(Out):
    id: int
    event_type: str
    member_id: int
    summary: str
    payload: dict[str, Any]
    created_at: dt.datetime


class FeedPage(PageOut):
    results: list[FeedItemOut]
