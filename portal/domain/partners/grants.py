"""What members grant partner apps: authorisation codes, tokens and their
families, consents and connections (invariants in models.py).

authlib's provider classes (portal/oauth/server.py) drive the protocol; every
rule about codes and tokens is here, so the API, the OAuth endpoints and the
member's profile page see the same answers.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from .. import audit
from ..actors import Actor
from ..base import fits_id, utcnow
from ..errors import NotFound, PermissionDenied
from ..members import Member
from .models import (ACCESS_TOKEN_LIFETIME, CODE_LIFETIME, REFRESH_TOKEN_LIFETIME, OAuthCode, OAuthConsent,
                     OAuthToken, PartnerApp, digest)
from .scopes import scope_list, scope_string


class AppOfAnotherOrganisation(PermissionDenied):
    code = "app_of_another_organisation"
    title = "This app belongs to another organisation"


@dataclass
class Connection:
    """An app a member is connected to: the scopes they granted it, and since when."""

    app: PartnerApp
    scopes: list[str]
    since: dt.datetime


# --- codes ----------------------------------------------------------------------------------

def issue_code(session: Session, app: PartnerApp, member: Member, *, code: str, redirect_uri: str, scope: str,
               code_challenge: str, code_challenge_method: str, nonce: str | None = None,
               auth_time: dt.datetime | None = None, now: dt.datetime | None = None) -> OAuthCode:
    """Store the hash of a new authorisation code. Raises AppOfAnotherOrganisation."""
    _same_organisation(app, member)
    now = now or utcnow()
    row = OAuthCode(organization_id=app.organization_id, app_id=app.id, member_id=member.id, code_hash=digest(code),
                    redirect_uri=redirect_uri, scope=scope_string(scope), nonce=nonce or None,
                    code_challenge=code_challenge, code_challenge_method=code_challenge_method, auth_time=auth_time,
                    expires_at=now + CODE_LIFETIME)
    session.add(row)
    session.flush()
    return row


def claim_code(session: Session, app: PartnerApp, code: str, *, now: dt.datetime | None = None) -> OAuthCode | None:
    """The code for its one exchange, now marked used; None when unknown, another app's, expired or used.

    A code presented a second time revokes every token issued from it (RFC 6749 4.1.2).
    """
    now = now or utcnow()
    row = session.scalars(select(OAuthCode).where(OAuthCode.code_hash == digest(code or ""))).first()
    if row is None or row.app_id != app.id:
        return None
    if row.used_at is None and row.expires_at > now:
        claimed = session.execute(update(OAuthCode).where(OAuthCode.id == row.id, OAuthCode.used_at.is_(None))
                                  .values(used_at=now).execution_options(synchronize_session=False)).rowcount == 1
        if claimed:
            session.refresh(row)
            return row
    session.refresh(row)
    if row.used_at is not None:
        revoke_tokens_of_code(session, row.id, now=now)
    return None


def nonce_seen(session: Session, app: PartnerApp, nonce: str) -> bool:
    """A nonce already carried by one of the app's codes (a replayed authorisation request)."""
    return bool(session.scalar(select(exists().where(OAuthCode.app_id == app.id, OAuthCode.nonce == nonce))))


def grant_member(session: Session, member_id: int | None) -> Member | None:
    """The member a code or token speaks for, while they may still be spoken for (not erased)."""
    member = session.get(Member, member_id) if member_id else None
    return member if member is not None and member.erased_at is None else None


# --- tokens -------------------------------------------------------------------------------------

def issue_token(session: Session, app: PartnerApp, *, grant_type: str, access_token: str, scope: str,
                expires_in: int | None = None, refresh_token: str | None = None, member: Member | None = None,
                code: OAuthCode | None = None, parent: OAuthToken | None = None,
                now: dt.datetime | None = None) -> OAuthToken:
    """Store the hashes of a new access token (and refresh token). A token refreshed from `parent`
    joins its family; one from a code starts a family of its own."""
    now = now or utcnow()
    if member is not None:
        _same_organisation(app, member)
    lifetime = dt.timedelta(seconds=expires_in) if expires_in else ACCESS_TOKEN_LIFETIME
    token = OAuthToken(
        organization_id=app.organization_id, app_id=app.id, member_id=member.id if member else None,
        code_id=parent.code_id if parent else (code.id if code else None),
        family_id=parent.family_id if parent else secrets.token_hex(16), grant_type=grant_type,
        access_token_hash=digest(access_token), refresh_token_hash=digest(refresh_token) if refresh_token else None,
        scope=scope_string(scope), issued_at=now, expires_at=now + lifetime,
        refresh_expires_at=now + REFRESH_TOKEN_LIFETIME if refresh_token else None)
    session.add(token)
    session.flush()
    return token


def find_token(session: Session, raw: str, kind: str = "access_token") -> OAuthToken | None:
    """The token row behind an access or refresh token string, whatever its state."""
    column = OAuthToken.refresh_token_hash if kind == "refresh_token" else OAuthToken.access_token_hash
    return session.scalars(select(OAuthToken).where(column == digest(raw or ""))).first() if raw else None


def authenticate_access_token(session: Session, raw: str, *, now: dt.datetime | None = None) -> OAuthToken | None:
    """The token behind a bearer string while it may be used, else None."""
    token = find_token(session, raw)
    return token if token is not None and token.access_usable(now or utcnow()) else None


def usable_refresh_token(session: Session, app: PartnerApp, raw: str, *,
                         now: dt.datetime | None = None) -> OAuthToken | None:
    """The app's refresh token while it may be exchanged, else None.

    A refresh token presented again after its exchange revokes its whole family:
    someone holds a copy (RFC 9700 4.14.2).
    """
    now = now or utcnow()
    token = find_token(session, raw, "refresh_token")
    if token is None or token.app_id != app.id:
        return None
    if token.refresh_used_at is not None:
        revoke_family(session, token.family_id, now=now)
        return None
    return token if token.refresh_usable(now) else None


def rotate_refresh_token(session: Session, token: OAuthToken, *, now: dt.datetime | None = None) -> bool:
    """Mark the refresh token exchanged. False (and the family revoked) when another request did it first."""
    now = now or utcnow()
    claimed = session.execute(update(OAuthToken).where(OAuthToken.id == token.id,
                                                       OAuthToken.refresh_used_at.is_(None))
                              .values(refresh_used_at=now).execution_options(synchronize_session=False)).rowcount == 1
    session.refresh(token)
    if not claimed:
        revoke_family(session, token.family_id, now=now)
    return claimed


def revoke_token(session: Session, token: OAuthToken, kind: str, *, now: dt.datetime | None = None) -> None:
    """RFC 7009: an access token alone (it expires now; its refresh token lives on); a refresh token
    with every token of its family."""
    now = now or utcnow()
    if kind == "refresh_token":
        revoke_family(session, token.family_id, now=now)
    elif token.expires_at > now:
        token.expires_at = now
        session.flush()


def revoke_family(session: Session, family_id: str, *, now: dt.datetime | None = None) -> int:
    return _revoke(session, OAuthToken.family_id == family_id, now)


def revoke_tokens_of_code(session: Session, code_id: int, *, now: dt.datetime | None = None) -> int:
    return _revoke(session, OAuthToken.code_id == code_id, now)


def revoke_app_tokens(session: Session, app: PartnerApp, *, now: dt.datetime | None = None) -> int:
    return _revoke(session, OAuthToken.app_id == app.id, now)


# --- consents and connections ---------------------------------------------------------------------

def consent_covers(session: Session, app: PartnerApp, member: Member, scope: str) -> bool:
    """Has the member already allowed the app every scope asked (in one consent)?"""
    asked = set(scope_list(scope))
    for given in session.scalars(select(OAuthConsent.scope).where(
            OAuthConsent.app_id == app.id, OAuthConsent.member_id == member.id, OAuthConsent.revoked_at.is_(None))):
        if asked <= set(scope_list(given)):
            return True
    return False


def record_consent(session: Session, app: PartnerApp, member: Member, scope: str, *, actor: Actor) -> OAuthConsent:
    """Remember the member's yes for the app and this set of scopes. Raises AppOfAnotherOrganisation."""
    _same_organisation(app, member)
    scope = scope_string(scope)
    consent = session.scalars(select(OAuthConsent).where(
        OAuthConsent.app_id == app.id, OAuthConsent.member_id == member.id, OAuthConsent.scope == scope,
        OAuthConsent.revoked_at.is_(None))).first()
    if consent is None:
        consent = OAuthConsent(organization_id=app.organization_id, app_id=app.id, member_id=member.id, scope=scope)
        audit.record_added(session, actor, "oauth.consent_given", consent, appId=app.id, scope=scope)
    return consent


def connections(session: Session, member: Member) -> list[Connection]:
    """The apps the member is connected to, oldest connection first."""
    found: dict[int, Connection] = {}
    rows = session.execute(select(OAuthConsent, PartnerApp).join(PartnerApp, PartnerApp.id == OAuthConsent.app_id)
                           .where(OAuthConsent.member_id == member.id, OAuthConsent.revoked_at.is_(None))
                           .order_by(OAuthConsent.created_at, OAuthConsent.id))
    for consent, app in rows:
        connection = found.setdefault(app.id, Connection(app=app, scopes=[], since=consent.created_at))
        connection.scopes = scope_list(connection.scopes + scope_list(consent.scope))
    return list(found.values())


def disconnect_app(session: Session, member: Member, app_id: int, *, actor: Actor,
                   now: dt.datetime | None = None) -> PartnerApp:
    """End the member's connection to the app: consents, tokens and unused codes, at once.

    Raises NotFound when the member is not connected to it.
    """
    now = now or utcnow()
    app = session.get(PartnerApp, app_id) if fits_id(app_id) else None
    if app is None or app.organization_id != member.organization_id or not any(
            c.app.id == app.id for c in connections(session, member)):
        raise NotFound("You are not connected to this app", field="appId")
    session.execute(update(OAuthConsent).where(OAuthConsent.app_id == app.id, OAuthConsent.member_id == member.id,
                                               OAuthConsent.revoked_at.is_(None))
                    .values(revoked_at=now).execution_options(synchronize_session=False))
    session.execute(update(OAuthCode).where(OAuthCode.app_id == app.id, OAuthCode.member_id == member.id,
                                            OAuthCode.used_at.is_(None))
                    .values(used_at=now).execution_options(synchronize_session=False))
    _revoke(session, (OAuthToken.app_id == app.id) & (OAuthToken.member_id == member.id), now)
    audit.record(session, actor, "oauth.app_disconnected", app, memberId=member.id)
    return app


def _revoke(session: Session, condition, now: dt.datetime | None) -> int:
    result = session.execute(update(OAuthToken).where(condition, OAuthToken.revoked_at.is_(None))
                             .values(revoked_at=now or utcnow()).execution_options(synchronize_session=False))
    for loaded in [o for o in session.identity_map.values() if isinstance(o, OAuthToken)]:
        session.expire(loaded, ["revoked_at"])
    return result.rowcount


def _same_organisation(app: PartnerApp, member: Member) -> None:
    if app.organization_id != member.organization_id:
        raise AppOfAnotherOrganisation("This app belongs to another organisation", field="client_id")
