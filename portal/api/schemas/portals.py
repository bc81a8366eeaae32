"""Request and response shapes of partner apps (the seed's `portals`), plus the OAuth client fields."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from ...domain.partners import CLIENT_TYPES, SCOPES
from .common import Id, In, Name, OrderBy, Out, PageOut, StrictListQuery, UtcDateTime

ClientType = Literal[CLIENT_TYPES]  # type: ignore[valid-type]
Scope = Literal[SCOPES]  # type: ignore[valid-type]
RedirectUrl = Annotated[str, StringConstraints(max_length=2000)]
PublicId = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class PortalFields(In):
    custom_attributes: dict[str, Any] | None = None
    links: dict[str, Any] | None = None
    theme: dict[str, Any] | None = None
    forms: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    loyalty_program_id: Id | None = None
    auth_redirect_url: RedirectUrl | None = Field(
        None, description="The one redirect URI of the app's OAuth login, matched exactly: https (http on localhost)")
    auth_valid_scopes: Annotated[list[Scope], Field(max_length=len(SCOPES))] | None = Field(
        None, description="The scopes the app may ask members for")
    created_at: UtcDateTime | None = Field(None, description="Ignored: set by the server")
    updated_at: UtcDateTime | None = Field(None, description="Ignored: set by the server")


class PortalIn(PortalFields):
    name: Name
    active: bool = True
    client_type: ClientType = Field("confidential", description="confidential: a back end that keeps the client "
                                    "secret; public: a browser or mobile app (no secret, PKCE only). Fixed.")


class PortalUpdate(PortalFields):
    name: Name | None = None
    active: bool | None = None
    public_id: PublicId | None = Field(None, description="Accepted as the seed sends it; it cannot change")


class PortalListQuery(StrictListQuery):
    order: OrderBy("createdAt", "id", "name") | None = None
    public_id: PublicId | None = None


class PortalOut(Out):
    id: int
    organization_id: int
    public_id: str
    name: str
    custom_attributes: dict[str, Any]
    links: dict[str, Any]
    theme: dict[str, Any]
    forms: dict[str, Any]
    metadata: dict[str, Any]
    active: bool
    loyalty_program_id: int | None
    auth_redirect_url: str
    auth_valid_scopes: list[str]
    client_type: str
    client_id: str
    client_secret: str | None = Field(None, description="Only in the answer that created or rotated it; "
                                      "stored hashed and never shown again")
    connected_members: int = Field(description="Members who granted the app access and did not revoke it")
    secret_rotated_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class PortalEnvelope(Out):
    portal: PortalOut


class PortalPage(PageOut):
    results: list[PortalOut]
