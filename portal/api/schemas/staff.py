"""Staff users, API keys and the audit log."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from ...domain.staff import MIN_PASSWORD_LENGTH, ROLES
from .common import In, Name, OrderBy, Out, PageOut, StrictListQuery

Role = Literal[ROLES]  # type: ignore[valid-type]


class UserListQuery(StrictListQuery):
    order: OrderBy("createdAt", "email") | None = None


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
