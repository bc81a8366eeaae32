"""The authorisation code flow end to end through the test client: consent, code, tokens, id_token, userinfo."""
from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet

from tests import factories

from .oauth_helpers import (REDIRECT, Partner, logged_in, make_member, make_partner_app, member,  # noqa: F401
                            partner, portal, query_of)


def test_allow_issues_a_code_and_tokens_with_a_signed_id_token(partner, logged_in, client):
    response = partner.consent(nonce="n-456")
    assert response.status_code == 302
    query = query_of(response.location)
    assert query["state"] == "st-123" and query["code"]
    tokens = partner.exchange(query["code"]).get_json()
    assert tokens["token_type"].lower() == "bearer" and tokens["access_token"] and tokens["refresh_token"]
    jwks = KeySet.import_key_set(client.get("/oauth/jwks.json").get_json())
    claims = jwt.decode(tokens["id_token"], jwks).claims
    assert claims["sub"] == str(logged_in.id) and claims["nonce"] == "n-456"
    assert claims["aud"] == [partner.app.client_id] and claims["iss"] == "http://localhost"
    assert claims["email"] == logged_in.email and claims["given_name"] == "Mara"
    assert claims["iat"] - 60 <= claims["auth_time"] <= claims["iat"] and claims["exp"] > claims["iat"]
    info = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200 and info.get_json()["sub"] == str(logged_in.id)


def test_the_access_token_reads_the_members_wallet_through_the_api(partner, logged_in, client, org, session):
    factories.give_points(session, org, logged_in, 75)
    session.commit()
    tokens = partner.tokens(scope="openid wallet:read")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    wallet = client.get(f"/api/v1/organizations/{org.id}/members/{logged_in.id}/wallet", headers=bearer)
    assert wallet.status_code == 200 and wallet.get_json()["balances"][0]["balance"] == 75
    record = client.get(f"/api/v1/organizations/{org.id}/members/{logged_in.id}", headers=bearer)
    assert record.status_code == 403  # profile was not granted
