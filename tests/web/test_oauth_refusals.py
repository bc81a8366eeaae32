"""Every refusal RELIABILITY.md promises for OAuth, one test each, asserting on what was (not) written."""
from __future__ import annotations

import datetime as dt

import time_machine
from sqlalchemy import select

from portal.domain import partners
from portal.domain.partners import OAuthCode, OAuthToken
from tests.factories import count

from .oauth_helpers import (REDIRECT, Partner, logged_in, make_member, make_partner_app, member,  # noqa: F401
                            partner, portal, query_of, s256)


def works(client, access_token: str) -> bool:
    response = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code in (200, 401), response.status_code
    return response.status_code == 200


def refused_back_to_partner(response, error: str = "invalid_request") -> dict:
    assert response.status_code == 302 and response.location.startswith(REDIRECT + "?"), response.location
    query = query_of(response.location)
    assert query["error"] == error and query["state"] == "st-123" and "code" not in query, query
    return query


# --- at /oauth/authorize -------------------------------------------------------------------------------

def test_plain_pkce_is_refused_at_authorize(partner, session):
    verifier = partner.verifier
    query = refused_back_to_partner(partner.authorize(code_challenge=verifier, code_challenge_method="plain"))
    assert "S256" in query["error_description"]
    assert count(session, OAuthCode) == 0


def test_a_challenge_without_a_method_is_refused_since_it_would_mean_plain(partner, session):
    refused_back_to_partner(partner.authorize(code_challenge_method=None))
    assert count(session, OAuthCode) == 0


def test_a_missing_code_challenge_is_refused_at_authorize(partner, session):
    query = refused_back_to_partner(partner.authorize(code_challenge=None, code_challenge_method=None))
    assert "code_challenge" in query["error_description"]
    assert count(session, OAuthCode) == 0


def test_unknown_redirect_uris_get_an_error_page_and_never_a_redirect(partner, session):
    variants = [REDIRECT + "/", REDIRECT + "/more", REDIRECT[:-1], REDIRECT + "?next=/x", REDIRECT + "#frag",
                REDIRECT.replace("https:", "http:"), REDIRECT.replace("partner.example", "PARTNER.example"),
                REDIRECT.replace("partner.example", "partner.example:443"),
                REDIRECT.replace("partner.example", "partner.example.evil.test"), "https://evil.test/callback",
                None]
    for variant in variants:
        response = partner.authorize(redirect_uri=variant)
        assert response.status_code == 400, (variant, response.status_code, response.location)
        assert "Location" not in response.headers, variant
        assert "does not work" in response.get_data(as_text=True)
    assert count(session, OAuthCode) == 0


def test_an_unknown_or_disabled_client_gets_an_error_page(partner, org, session):
    assert partner.authorize(client_id="pc_nobody").status_code == 400
    partners.update_app(session, partner.app, actor=org.actor, active=False)
    session.commit()
    response = partner.authorize()
    assert response.status_code == 400 and "Location" not in response.headers


def test_a_scope_the_app_may_not_ask_for_is_refused(make_partner_app, portal, logged_in, session):
    app, secret = make_partner_app(auth_valid_scopes=["openid", "profile"])
    partner = Partner(portal.client, app, secret)
    refused_back_to_partner(partner.authorize(scope="openid wallet:read"), "invalid_scope")
    refused_back_to_partner(partner.authorize(scope="openid admin"), "invalid_scope")
    assert count(session, OAuthCode) == 0


def test_implicit_grant_is_not_offered(partner, session):
    refused_back_to_partner(partner.authorize(response_type="token"), "unsupported_response_type")


def test_deny_sends_access_denied_back_with_the_state(partner, session):
    refused_back_to_partner(partner.consent("deny"), "access_denied")
    assert count(session, OAuthCode) == 0 and count(session, partners.OAuthConsent) == 0


def test_the_consent_form_needs_its_csrf_token(partner, session):
    response = partner.browser.post("/oauth/authorize?" + "&".join(f"{k}={v}" for k, v in partner.params().items()),
                                    data={"decision": "allow"})
    assert response.status_code == 400
    assert count(session, OAuthCode) == 0


# --- at /oauth/token ---------------------------------------------------------------------------------

def test_a_wrong_code_verifier_is_refused(partner, session):
    code = partner.code()
    response = partner.exchange(code, verifier="x" * 50)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert count(session, OAuthToken) == 0
    no_verifier = partner.exchange(partner.code(), verifier=None)
    assert no_verifier.status_code == 400 and count(session, OAuthToken) == 0


def test_a_reused_code_is_refused_and_revokes_the_tokens_issued_from_it(partner, client, session):
    code = partner.code()
    first = partner.exchange(code).get_json()
    assert works(client, first["access_token"])
    again = partner.exchange(code)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert not works(client, first["access_token"])
    assert partner.refresh(first["refresh_token"]).status_code == 400
    session.expire_all()
    assert all(t.revoked_at is not None for t in session.scalars(select(OAuthToken)))


def test_an_expired_code_is_refused(partner, session):
    code = partner.code()
    later = dt.datetime.now(dt.timezone.utc) + partners.CODE_LIFETIME + dt.timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        response = partner.exchange(code)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert count(session, OAuthToken) == 0
    assert partners.CODE_LIFETIME <= dt.timedelta(minutes=10)


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_family(partner, client, session):
    first = partner.tokens()
    second = partner.refresh(first["refresh_token"]).get_json()
    assert second["refresh_token"] != first["refresh_token"] and works(client, second["access_token"])
    reuse = partner.refresh(first["refresh_token"])
    assert reuse.status_code == 400 and reuse.get_json()["error"] == "invalid_grant"
    assert not works(client, second["access_token"]) and not works(client, first["access_token"])
    assert partner.refresh(second["refresh_token"]).status_code == 400
    other_family = partner.tokens()
    assert works(client, other_family["access_token"])


def test_a_wrong_client_secret_is_refused(partner, session):
    code = partner.code()
    response = partner.exchange(code, secret="pcs_wrong")
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"
    missing = partner.exchange(code, secret=None)  # a confidential app cannot pass as a public one
    assert (missing.status_code, missing.get_json()["error"]) == (401, "invalid_client")
    assert count(session, OAuthToken) == 0
    assert partner.exchange(code).status_code == 200  # the code was not used up by the refusals


def test_password_grant_is_not_offered(partner):
    response = partner.token_request({"grant_type": "password", "username": "x", "password": "y"})
    assert response.status_code == 400 and response.get_json()["error"] == "unsupported_grant_type"


def test_a_public_client_exchanges_with_pkce_only_and_gets_no_client_credentials(make_partner_app, portal,
                                                                                   logged_in, session):
    app, secret = make_partner_app(client_type=partners.PUBLIC)
    assert secret is None
    public = Partner(portal.client, app, None)
    tokens = public.exchange(public.code(), secret=None).get_json()
    assert tokens["access_token"] and tokens["refresh_token"]
    refused = public.token_request({"grant_type": "client_credentials"}, secret=None)
    assert (refused.status_code, refused.get_json()["error"]) == (401, "invalid_client")
