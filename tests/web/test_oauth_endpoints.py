"""Discovery, JWKS and key rotation, revocation (RFC 7009), introspection (RFC 7662), userinfo and the
client credentials grant, through the test client."""
from __future__ import annotations

import datetime as dt
import time_machine
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from portal.domain import partners
from portal.oauth.keys import KeyStore

from .oauth_helpers import (Partner, logged_in, make_member, make_partner_app, member, partner,  # noqa: F401
                            portal)


def kid_of(id_token: str) -> str:
    return extract_compact(id_token.encode()).headers()["kid"]


def userinfo(client, access_token: str):
    return client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def test_discovery_advertises_exactly_what_is_supported_under_the_configured_address(client):
    # Asked on another trusted host name, it still names the configured address (an untrusted one gets 400).
    doc = client.get("/.well-known/openid-configuration", headers={"Host": "127.0.0.1"}).get_json()
    assert doc["issuer"] == "http://localhost"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert doc["scopes_supported"] == list(partners.SCOPES)
    for name in ("authorization_endpoint", "token_endpoint", "revocation_endpoint", "introspection_endpoint",
                 "userinfo_endpoint", "jwks_uri"):
        assert doc[name].startswith("http://localhost/"), name
    assert client.get(doc["jwks_uri"].removeprefix("http://localhost")).get_json()["keys"]
    from authlib.oidc.discovery import OpenIDProviderMetadata
    OpenIDProviderMetadata(doc).validate()


def test_rotate_key_signs_with_a_new_key_and_keeps_the_old_one_published(app, partner, client, tmp_path,
                                                                         monkeypatch):
    keys = KeyStore(tmp_path / "keys.json")
    monkeypatch.setitem(app.extensions, "portal_oauth_keys", keys)
    before = partner.tokens()
    old_kid = kid_of(before["id_token"])
    result = app.test_cli_runner().invoke(args=["oauth", "rotate-key"])
    assert result.exit_code == 0 and "2 key(s)" in result.output, result.output
    after = partner.tokens()
    new_kid = kid_of(after["id_token"])
    assert new_kid != old_kid
    published = KeySet.import_key_set(client.get("/oauth/jwks.json").get_json())
    assert {k.kid for k in published.keys} == {old_kid, new_kid}
    assert all("d" not in k.as_dict(private=False) for k in published.keys)
    jwt.decode(before["id_token"], published)  # an id_token signed before the rotation still verifies
    later = dt.datetime.now(dt.timezone.utc) + partners.ID_TOKEN_LIFETIME + dt.timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        keys.rotate()
        kids = {k["kid"] for k in keys.public_jwks()["keys"]}
    assert old_kid not in kids and new_kid in kids and len(kids) == 2


def test_revoking_an_access_token_and_a_refresh_token(partner, client):
    first = partner.tokens()
    response = partner.client_auth({"token": first["access_token"], "token_type_hint": "access_token"},
                                   "/oauth/revoke")
    assert response.status_code == 200
    assert userinfo(client, first["access_token"]).status_code == 401
    second = partner.refresh(first["refresh_token"]).get_json()  # the grant itself lives on
    assert userinfo(client, second["access_token"]).status_code == 200
    partner.client_auth({"token": second["refresh_token"]}, "/oauth/revoke")
    assert userinfo(client, second["access_token"]).status_code == 401  # the whole family
    assert partner.refresh(second["refresh_token"]).status_code == 400
    unknown = partner.client_auth({"token": "no-such-token"}, "/oauth/revoke")
    assert unknown.status_code == 200  # RFC 7009: nothing to say about tokens one does not hold


def test_an_app_cannot_revoke_or_introspect_another_apps_token(partner, make_partner_app, client):
    tokens = partner.tokens()
    other_app, other_secret = make_partner_app(name="Other")
    other = Partner(partner.browser, other_app, other_secret)
    assert other.client_auth({"token": tokens["access_token"]}, "/oauth/revoke").status_code == 400
    assert userinfo(client, tokens["access_token"]).status_code == 200
    assert other.client_auth({"token": tokens["access_token"]}, "/oauth/introspect").get_json() == {"active": False}


def test_introspection_of_the_apps_own_tokens(partner, logged_in):
    tokens = partner.tokens(scope="openid wallet:read")
    info = partner.client_auth({"token": tokens["access_token"]}, "/oauth/introspect").get_json()
    assert info["active"] is True and info["sub"] == str(logged_in.id) and info["scope"] == "openid wallet:read"
    assert info["client_id"] == partner.app.client_id and info["exp"] > info["iat"]
    refresh = partner.client_auth({"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
                                  "/oauth/introspect").get_json()
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    partner.refresh(tokens["refresh_token"])
    used = partner.client_auth({"token": tokens["refresh_token"]}, "/oauth/introspect").get_json()
    assert used == {"active": False}
    partner.secret = "pcs_wrong"
    assert partner.client_auth({"token": tokens["access_token"]}, "/oauth/introspect").status_code == 401


def test_userinfo_follows_the_granted_scopes(partner, client, logged_in):
    narrow = partner.tokens(scope="openid")
    assert userinfo(client, narrow["access_token"]).get_json() == {"sub": str(logged_in.id)}
    no_openid = partner.tokens(scope="wallet:read")
    assert "id_token" not in no_openid
    assert userinfo(client, no_openid["access_token"]).status_code == 403


def test_client_credentials_for_a_confidential_apps_back_end(partner, client, org, logged_in):
    response = partner.token_request({"grant_type": "client_credentials", "scope": "coupons:read"})
    assert response.status_code == 200, response.get_json()
    token = response.get_json()
    assert "refresh_token" not in token and "id_token" not in token
    info = partner.client_auth({"token": token["access_token"]}, "/oauth/introspect").get_json()
    assert info["active"] and "sub" not in info
    api = client.get(f"/api/v1/organizations/{org.id}/members/{logged_in.id}/account-coupons",
                     headers={"Authorization": f"Bearer {token['access_token']}"})
    assert api.status_code == 404  # no member behind it: no member's data
    identity = partner.token_request({"grant_type": "client_credentials", "scope": "openid profile"})
    assert identity.status_code == 400 and identity.get_json()["error"] == "invalid_scope"
