"""Audiences: rule audiences and list audiences."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .common import In, Out, PageOut, patch_of


class AudienceIn(In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    kind: Literal["rule", "list"] = "rule"
    rule: Annotated[str, StringConstraints(max_length=4000)] | None = None
    member_ids: Annotated[list[int], Field(max_length=10_000)] = Field(default_factory=list)


class AudienceUpdate(patch_of(AudienceIn, fixed=("kind", "member_ids"))):
    """Change an audience's name, description or rule (its kind is fixed), or add members to a list audience."""

    add_member_ids: Annotated[list[int], Field(max_length=10_000)] = Field(default_factory=list)


class AudienceOut(Out):
    id: int
    name: str
    description: str
    kind: str
    rule: str | None
    member_count: int
    created_at: dt.datetime


class AudienceEnvelope(Out):
    audience: AudienceOut


class AudiencePage(PageOut):
    results: list[AudienceOut]


class MemberAudiencesOut(Out):
    results: list[AudienceOut]
