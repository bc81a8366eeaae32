"""Partner apps: create, change, disable, rotate the client secret, count connected members.

Rules, in the order they are checked:
- the name is required; the client type is `confidential` (a back end that keeps
  a secret) or `public` (a browser or mobile app: no secret, PKCE only) and
  never changes, since tokens and integrations were made for it;
- `authRedirectUrl` is empty or one absolute https URL without a fragment
  (http only on a loopback host, for development); it is matched exactly;
- `authValidScopes` lists only the scopes in scopes.SCOPES;
- `loyaltyProgramId` names a programme of the same organisation;
- a confidential app has a secret; rotating replaces it at once (the old one
  stops working); a public app has none.
"""
from __future__ import annotations

import hmac
import ipaddress
import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from .. import audit, organizations
from ..actors import Actor
from ..base import get_owned, utcnow
from ..checks import required_name
from ..errors import NotFound, ValidationFailed
from .models import CLIENT_TYPES, CONFIDENTIAL, OAuthConsent, PartnerApp, digest
from .scopes import scope_list, unknown_scopes

SECRET_PREFIX = "pcs_"
EDITABLE = ("name", "custom_attributes", "links", "theme", "forms", "meta", "active", "loyalty_program_id",
            "auth_redirect_url", "auth_valid_scopes")


def create_app(session: Session, organization_id: int, *, actor: Actor, name: str, client_type: str = CONFIDENTIAL,
               **fields: Any) -> tuple[PartnerApp, str | None]:
    """A new partner app, and its client secret (shown once; None for a public app).

    Raises ValidationFailed (name, clientType, authRedirectUrl, authValidScopes), NotFound (loyaltyProgramId).
    """
    if client_type not in CLIENT_TYPES:
        raise ValidationFailed("clientType must be confidential or public", field="clientType")
    app = PartnerApp(organization_id=organization_id, public_id=secrets.token_hex(8), client_type=client_type,
                     client_id=f"pc_{secrets.token_urlsafe(18)}", name="", custom_attributes={}, links={}, theme={},
                     forms={}, meta={}, active=True, auth_redirect_url="", auth_valid_scopes=[])
    _apply(session, app, {"name": name, **fields})
    secret = _new_secret(app) if app.confidential else None
    audit.record_added(session, actor, "portal.created", app, clientType=client_type)
    return app, secret


def update_app(session: Session, app: PartnerApp, *, actor: Actor, **changes: Any) -> PartnerApp:
    """Change the given fields (see EDITABLE). Disabling revokes every live token of the app.

    Raises ValidationFailed, NotFound (loyaltyProgramId).
    """
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(f"{sorted(unknown)[0]} cannot be changed", field=sorted(unknown)[0])
    was_active = app.active
    _apply(session, app, changes)
    session.flush()
    if was_active and not app.active:
        from .grants import revoke_app_tokens

        revoke_app_tokens(session, app)
    audit.record(session, actor, "portal.updated", app, fields=sorted(changes))
    return app


def rotate_secret(session: Session, app: PartnerApp, *, actor: Actor) -> str:
    """A new client secret (shown once); the old one stops working. Raises ValidationFailed for a public app."""
    if not app.confidential:
        raise ValidationFailed("A public app has no client secret", field="clientType")
    secret = _new_secret(app)
    app.secret_rotated_at = utcnow()
    session.flush()
    audit.record(session, actor, "portal.secret_rotated", app)
    return secret


def secret_matches(app: PartnerApp, secret: str | None) -> bool:
    if not app.client_secret_hash or not secret:
        return False
    return hmac.compare_digest(app.client_secret_hash, digest(secret))


def get_app(session: Session, organization_id: int, app_id: int) -> PartnerApp:
    return get_owned(session, PartnerApp, app_id, organization_id, what="Portal", field="portalId")


def get_app_by_public_id(session: Session, organization_id: int, public_id: str) -> PartnerApp:
    app = session.scalars(select(PartnerApp).where(PartnerApp.public_id == public_id)).first()
    if app is None or app.organization_id != organization_id:
        raise NotFound("Portal not found", field="publicId")
    return app


def find_client(session: Session, client_id: str | None) -> PartnerApp | None:
    """The active app with this OAuth client id, else None (a disabled app is no client)."""
    if not client_id or len(client_id) > 64:
        return None
    app = session.scalars(select(PartnerApp).where(PartnerApp.client_id == client_id)).first()
    return app if app is not None and app.active else None


def apps_query(organization_id: int, *, public_id: str | None = None) -> Select:
    stmt = select(PartnerApp).where(PartnerApp.organization_id == organization_id)
    if public_id:
        stmt = stmt.where(PartnerApp.public_id == public_id)
    return stmt


def connected_member_counts(session: Session, app_ids: list[int]) -> dict[int, int]:
    """Per app, how many members hold a consent for it that is not revoked."""
    if not app_ids:
        return {}
    rows = session.execute(select(OAuthConsent.app_id, func.count(func.distinct(OAuthConsent.member_id)))
                           .where(OAuthConsent.app_id.in_(app_ids), OAuthConsent.revoked_at.is_(None))
                           .group_by(OAuthConsent.app_id))
    return {app_id: int(count) for app_id, count in rows}


def check_redirect_url(url: str) -> str:
    """One absolute https URL without a fragment (http only for a loopback host), or empty."""
    url = (url or "").strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises for a port that is not a number)
    except ValueError:
        raise ValidationFailed("authRedirectUrl must be an absolute URL", field="authRedirectUrl") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ValidationFailed("authRedirectUrl must be an absolute https URL", field="authRedirectUrl")
    if parts.scheme == "http" and not _loopback(host):
        raise ValidationFailed("authRedirectUrl must use https (http only on localhost)", field="authRedirectUrl")
    if parts.fragment or "#" in url:
        raise ValidationFailed("authRedirectUrl must not contain a fragment", field="authRedirectUrl")
    if any(c.isspace() for c in url):
        raise ValidationFailed("authRedirectUrl must not contain spaces", field="authRedirectUrl")
    return url


def check_scopes(scopes: list[str] | None) -> list[str]:
    wanted = scope_list(list(scopes or []))
    unknown = unknown_scopes(wanted)
    if unknown:
        raise ValidationFailed(f"Unknown scope {unknown[0]}", field="authValidScopes")
    return wanted


def _apply(session: Session, app: PartnerApp, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        if key == "name":
            value = required_name(value)
        elif key == "auth_redirect_url":
            value = check_redirect_url(value)
        elif key == "auth_valid_scopes":
            value = check_scopes(value)
        elif key == "loyalty_program_id" and value is not None:
            value = organizations.get_program(session, app.organization_id, value).id
        elif key in ("custom_attributes", "links", "theme", "forms", "meta"):
            value = dict(value or {})
        elif key == "active":
            value = bool(value)
        setattr(app, key, value)


def _new_secret(app: PartnerApp) -> str:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    app.client_secret_hash = digest(secret)
    return secret


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
