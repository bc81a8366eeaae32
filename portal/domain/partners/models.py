"""Partner apps (the seed's `portals`) and what members grant them: OAuth
authorisation codes, tokens and consents.

Invariants:
- Secrets are never stored: a client secret, an authorisation code, an access
  token and a refresh token are kept as the SHA-256 of a random value of at
  least 256 bits (fast to check, useless if the tables leak). The secret is
  shown once, when it is made.
- An authorisation code is exchanged at most once: `used_at` is set by a
  conditional UPDATE (`... WHERE used_at IS NULL`), so of two concurrent
  exchanges one wins. A code lives at most CODE_LIFETIME.
- Tokens issued from one code, and all tokens refreshed from them, share a
  `family_id` (and keep the code's `code_id`). A refresh token is exchanged at
  most once (`refresh_used_at`, conditional UPDATE); presenting it again, or
  presenting the code again, revokes the whole family.
- A token works only while it is not revoked, not expired, its app is active
  and its member is not erased. Nothing is ever deleted: revoking sets
  `revoked_at` (the access and the refresh token of the row); revoking an
  access token alone moves its `expires_at` to that moment.
- A member is connected to an app while they hold a consent for it that is not
  revoked; disconnecting revokes the consents, the tokens and any unused code
  of that member and app at once.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin
from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..actors import Actor
from ..base import Base, OwnedRow, utcnow
from ..passwords import digest  # noqa: F401  (re-exported: partners.digest)
from ..members import Member
from .scopes import scope_list

CONFIDENTIAL, PUBLIC = "confidential", "public"
CLIENT_TYPES = (CONFIDENTIAL, PUBLIC)
CODE_GRANT, REFRESH_GRANT, CLIENT_CREDENTIALS_GRANT = "authorization_code", "refresh_token", "client_credentials"

CODE_LIFETIME = dt.timedelta(minutes=10)
ACCESS_TOKEN_LIFETIME = dt.timedelta(hours=1)
REFRESH_TOKEN_LIFETIME = dt.timedelta(days=30)
ID_TOKEN_LIFETIME = dt.timedelta(hours=1)


class PartnerApp(OwnedRow, Base, ClientMixin):
    """A partner site or app: the seed's portal, and an OAuth client."""

    __tablename__ = "portals"
    __table_args__ = (Index("ix_portals_org_created", "organization_id", "created_at"),)

    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    links: Mapped[dict[str, Any]] = mapped_column(default=dict)
    theme: Mapped[dict[str, Any]] = mapped_column(default=dict)
    forms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # `metadata` is taken by SQLAlchemy's declarative base; the column keeps the seed's name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    loyalty_program_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_programs.id"), default=None)
    auth_redirect_url: Mapped[str] = mapped_column(String(2000), default="")
    auth_valid_scopes: Mapped[list[str]] = mapped_column(default=list)
    client_type: Mapped[str] = mapped_column(String(16), default=CONFIDENTIAL)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    secret_rotated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def confidential(self) -> bool:
        return self.client_type == CONFIDENTIAL

    # --- what authlib asks of a client (ClientMixin) ---

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.auth_redirect_url or None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The asked scopes when the app may ask for all of them; None (refused) otherwise."""
        asked = scope_list(scope)
        if any(s not in self.auth_valid_scopes for s in asked):
            return None
        return " ".join(asked)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match: no prefix, no wildcard, no normalisation.
        return bool(self.auth_redirect_url) and redirect_uri == self.auth_redirect_url

    def check_client_secret(self, client_secret: str) -> bool:
        from .apps import secret_matches

        return secret_matches(self, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.confidential:
            return method in ("client_secret_basic", "client_secret_post")
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == CLIENT_CREDENTIALS_GRANT:
            return self.confidential
        return grant_type in (CODE_GRANT, REFRESH_GRANT)


class OAuthCode(OwnedRow, Base, AuthorizationCodeMixin):
    """An authorisation code a member's consent produced; stored as its hash."""

    __tablename__ = "oauth_codes"

    app_id: Mapped[int] = mapped_column(ForeignKey("portals.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(500), default="")
    nonce: Mapped[str | None] = mapped_column(String(255), default=None)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    auth_time: Mapped[dt.datetime | None] = mapped_column(default=None)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int | None:
        return int(self.auth_time.timestamp()) if self.auth_time else None


class OAuthToken(OwnedRow, Base, TokenMixin):
    """An access token and (for members) its refresh token; both stored as hashes."""

    __tablename__ = "oauth_tokens"
    __table_args__ = (Index("ix_oauth_tokens_member_app", "member_id", "app_id"),)

    app_id: Mapped[int] = mapped_column(ForeignKey("portals.id"), index=True)
    # None for a client-credentials token: it speaks for the app, not for a member.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)
    code_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_codes.id"), default=None, index=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    grant_type: Mapped[str] = mapped_column(String(32))
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    scope: Mapped[str] = mapped_column(String(500), default="")
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    refresh_expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    refresh_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    app: Mapped[PartnerApp] = relationship(lazy="joined")
    member: Mapped[Member | None] = relationship(lazy="joined")

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(scope_list(self.scope))

    def actor(self) -> Actor:
        """The app acting for the member (or for itself), within the granted scopes; no staff role."""
        return Actor(kind="oauth", id=self.app_id, organization_id=self.organization_id,
                     label=f"app {self.app.public_id}", member_id=self.member_id, scopes=self.scopes)

    def access_usable(self, now: dt.datetime) -> bool:
        """The access token opens doors: not revoked, not expired, app active, member not erased."""
        return (self.revoked_at is None and self.expires_at > now and self.app.active
                and (self.member is None or self.member.erased_at is None))

    def refresh_usable(self, now: dt.datetime) -> bool:
        return (self.refresh_token_hash is not None and self.revoked_at is None and self.refresh_used_at is None
                and self.refresh_expires_at is not None and self.refresh_expires_at > now and self.app.active
                and (self.member is None or self.member.erased_at is None))

    # --- what authlib asks of a token (TokenMixin) ---

    def check_client(self, client: PartnerApp) -> bool:
        return client is not None and self.app_id == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_user(self) -> Member | None:
        return self.member

    def get_client(self) -> PartnerApp:
        return self.app


class OAuthConsent(OwnedRow, Base):
    """A member's yes to an app for a set of scopes; remembered until revoked."""

    __tablename__ = "oauth_consents"
    __table_args__ = (Index("ix_oauth_consents_member_app", "member_id", "app_id"),)

    app_id: Mapped[int] = mapped_column(ForeignKey("portals.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    scope: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
