"""authlib's OAuth 2.1 / OpenID Connect provider, bound to the partners domain.

authlib runs the protocol; portal.domain.partners keeps every rule about
codes, tokens and consents. What we tell authlib beyond its defaults, and why:
- PKCE with S256 is required of every client: authlib's CodeChallenge accepts
  `plain`, and lets an authorisation request without `code_challenge` through
  (only the token step would notice), so S256CodeChallenge refuses both at
  /oauth/authorize.
- `redirect_uri` is required and must equal the registered one exactly; an
  unknown one is answered with a page, never a redirect (the error carries no
  redirect_uri, see views.authorize).
- Codes and refresh tokens are claimed (marked used) by a conditional UPDATE
  when they are looked up, so a second presentation is recognised and revokes
  what was issued from them, even under concurrent requests.
- Grants: authorization_code (+ OpenID Connect), refresh_token (rotating),
  client_credentials (confidential apps). No implicit, no password grant.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError, OAuth2Request, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, current_app, request
from flask import session as browser_session

from ..domain import partners
from ..domain.base import utcnow
from ..domain.members import Member
from ..extensions import db
from .keys import ALGORITHM, KeyStore

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]
ANY_CLIENT_METHODS = SECRET_METHODS + ["none"]


def issuer() -> str:
    """The provider's public address: the configured base URL, never the request's Host header."""
    return current_app.config["PORTAL_BASE_URL"].rstrip("/")


def server() -> "PortalAuthorizationServer":
    return current_app.extensions["portal_oauth"]


def keystore() -> KeyStore:
    return current_app.extensions["portal_oauth_keys"]


def user_info(member: Member, scope: str) -> UserInfo:
    """The OpenID claims the granted scopes allow."""
    granted = set(partners.scope_list(scope))
    claims = {"sub": str(member.id)}
    if partners.PROFILE in granted:
        claims.update(name=f"{member.given_name} {member.family_name}".strip(), given_name=member.given_name,
                      family_name=member.family_name, locale=member.locale,
                      updated_at=int(member.updated_at.timestamp()))
    if partners.EMAIL in granted and member.email:
        claims["email"] = member.email
    return UserInfo(claims)


# --- requests ---------------------------------------------------------------------------------

class PublicRequest(FlaskOAuth2Request):
    """The request as the world sees it: under PORTAL_BASE_URL (https in production, behind a proxy)."""

    def __init__(self, flask_request):
        OAuth2Request.__init__(self, method=flask_request.method, uri=issuer() + flask_request.full_path,
                               headers=flask_request.headers)
        self._request = flask_request
        self.payload = FlaskOAuth2Payload(flask_request)


class PortalAuthorizationServer(AuthorizationServer):
    def create_oauth2_request(self, req):
        return PublicRequest(request)


# --- grants -----------------------------------------------------------------------------------

class S256CodeChallenge(CodeChallenge):
    """PKCE, S256 only, for every client."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported")
        return super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_CLIENT_METHODS

    @staticmethod
    def validate_authorization_redirect_uri(oauth_request, client):
        # Required, and compared exactly by PartnerApp.check_redirect_uri; neither error redirects.
        if not oauth_request.payload.redirect_uri:
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        return grants.AuthorizationCodeGrant.validate_authorization_redirect_uri(oauth_request, client)

    def save_authorization_code(self, code, oauth_request):
        data = oauth_request.payload.data
        return partners.issue_code(
            db.session, oauth_request.client, oauth_request.user, code=code,
            redirect_uri=oauth_request.payload.redirect_uri, scope=oauth_request.scope or "",
            code_challenge=data["code_challenge"], code_challenge_method=data["code_challenge_method"],
            nonce=data.get("nonce"), auth_time=_signed_in_at())

    def query_authorization_code(self, code, client):
        return partners.claim_code(db.session, client, code)

    def delete_authorization_code(self, authorization_code):
        pass  # marked used when it was claimed; kept, so that a second presentation is recognised

    def authenticate_user(self, authorization_code):
        return partners.grant_member(db.session, authorization_code.member_id)


class OpenIDConnectCode(OpenIDCode):
    def exists_nonce(self, nonce, oauth_request):
        return partners.nonce_seen(db.session, oauth_request.client, nonce)

    def resolve_client_private_key(self, client):
        return keystore().signing_key()

    def get_client_algorithm(self, client):
        return ALGORITHM

    def get_encode_header(self, client):
        return {"alg": ALGORITHM, "kid": keystore().signing_key().kid}

    def get_client_claims(self, client):
        return {"iss": issuer(), "aud": [client.client_id],
                "exp": int(utcnow().timestamp() + partners.ID_TOKEN_LIFETIME.total_seconds())}

    def generate_user_info(self, user, scope):
        return user_info(user, scope)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_CLIENT_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        token = partners.usable_refresh_token(db.session, self.request.client, refresh_token)
        if token is None:
            return None
        self._validate_token_scope(token)  # before the exchange: a refused scope must not use up the token
        return token if partners.rotate_refresh_token(db.session, token) else None

    def authenticate_user(self, refresh_token):
        return partners.grant_member(db.session, refresh_token.member_id)

    def revoke_old_credential(self, refresh_token):
        pass  # marked used when it was authenticated


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """For a confidential app's back end: a token for the app itself, no member behind it."""

    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_METHODS

    def validate_token_request(self):
        super().validate_token_request()
        scope = self.request.payload.scope
        if self.request.client.get_allowed_scope(scope) is None or set(partners.scope_list(scope)) & {
                partners.OPENID, partners.PROFILE, partners.EMAIL}:
            raise InvalidScopeError("Ask only for scopes the app may use; identity scopes need a member")


# --- revocation, introspection, userinfo ---------------------------------------------------------

@dataclass
class PresentedToken:
    """An access or refresh token string as presented to /oauth/revoke or /oauth/introspect."""

    row: partners.OAuthToken
    kind: str

    def check_client(self, client) -> bool:
        return self.row.check_client(client)

    def is_expired(self) -> bool:
        expires = self.row.expires_at if self.kind == "access_token" else self.row.refresh_expires_at
        return expires is None or expires <= utcnow()

    def is_revoked(self) -> bool:
        return not (self.row.access_usable(utcnow()) if self.kind == "access_token"
                    else self.row.refresh_usable(utcnow()))


def presented_token(raw: str, hint: str | None) -> PresentedToken | None:
    kinds = ["access_token", "refresh_token"]
    if hint == "refresh_token":
        kinds.reverse()
    for kind in kinds:
        row = partners.find_token(db.session, raw, kind)
        if row is not None:
            return PresentedToken(row, kind)
    return None


class TokenRevocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ANY_CLIENT_METHODS

    def query_token(self, token_string, token_type_hint):
        return presented_token(token_string, token_type_hint)

    def revoke_token(self, token, oauth_request):
        partners.revoke_token(db.session, token.row, token.kind)


class TokenIntrospection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = SECRET_METHODS

    def query_token(self, token_string, token_type_hint):
        return presented_token(token_string, token_type_hint)

    def check_permission(self, token, client, oauth_request):
        return token.check_client(client)  # an app learns about its own tokens only

    def introspect_token(self, token):
        row = token.row
        expires = row.expires_at if token.kind == "access_token" else row.refresh_expires_at
        payload = {"active": True, "client_id": row.app.client_id, "token_type": token.kind, "scope": row.scope,
                   "iat": int(row.issued_at.timestamp()), "exp": int(expires.timestamp()), "iss": issuer(),
                   "aud": row.app.client_id}
        if row.member_id is not None:
            payload["sub"] = str(row.member_id)
        return payload


class AccessTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string):
        return partners.authenticate_access_token(db.session, token_string)


class MemberUserInfo(UserInfoEndpoint):
    def get_issuer(self):
        return issuer()

    def generate_user_info(self, user, scope):
        return user_info(user, scope)

    def resolve_private_key(self):
        return keystore().signing_key()


def init_app(app: Flask) -> None:
    """One provider per app (tests build several apps), keys from the instance folder."""
    keys = KeyStore(app.config["OAUTH_SIGNING_KEYS"])
    keys.ensure()
    provider = PortalAuthorizationServer(query_client=lambda client_id: partners.find_client(db.session, client_id),
                                         save_token=_save_token)
    provider.load_config({
        "OAUTH2_REFRESH_TOKEN_GENERATOR": True,
        "OAUTH2_SCOPES_SUPPORTED": list(partners.SCOPES),
        "OAUTH2_TOKEN_EXPIRES_IN": {grant: int(partners.ACCESS_TOKEN_LIFETIME.total_seconds()) for grant in (
            partners.CODE_GRANT, partners.REFRESH_GRANT, partners.CLIENT_CREDENTIALS_GRANT)},
    })
    provider.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDConnectCode()])
    provider.register_grant(RefreshTokenGrant)
    provider.register_grant(ClientCredentialsGrant)
    provider.register_endpoint(TokenRevocation)
    provider.register_endpoint(TokenIntrospection)
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator())
    provider.register_endpoint(MemberUserInfo(resource_protector=protector))
    app.extensions["portal_oauth"] = provider
    app.extensions["portal_oauth_keys"] = keys


def _signed_in_at() -> dt.datetime | None:
    """When the member logged in to the portal (set by member.account_views.sign_in), for the id_token's auth_time."""
    stamp = browser_session.get("signed_in_at")
    return dt.datetime.fromtimestamp(stamp, dt.timezone.utc) if isinstance(stamp, int) else None


def _save_token(token: dict, oauth_request) -> None:
    grant_type = oauth_request.payload.grant_type
    partners.issue_token(
        db.session, oauth_request.client, grant_type=grant_type, access_token=token["access_token"],
        refresh_token=token.get("refresh_token"), scope=token.get("scope") or "", expires_in=token.get("expires_in"),
        member=oauth_request.user, code=oauth_request.authorization_code,
        parent=oauth_request.refresh_token if grant_type == partners.REFRESH_GRANT else None)
