"""The partners domain without HTTP: partner apps, codes once, token families, consents and
connections, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import secrets

import pytest

from portal.domain import partners, self_service
from portal.domain.base import utcnow
from portal.domain.errors import NotFound, ValidationFailed
from tests import factories

REDIRECT = "https://partner.example/callback"


@pytest.fixture
def world(session, org):
    app, secret = factories.make_partner_app(session, org)
    member = factories.make_member(session, org)
    return app, secret, member


def new_code(session, app, member, **kwargs):
    raw = secrets.token_urlsafe(32)
    row = partners.issue_code(session, app, member, code=raw, redirect_uri=REDIRECT, scope="openid profile",
                              code_challenge="c" * 43, code_challenge_method="S256", **kwargs)
    return raw, row


def tokens_from(session, app, member, code_row=None, parent=None):
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    token = partners.issue_token(session, app, grant_type=partners.CODE_GRANT, access_token=access,
                                 refresh_token=refresh, scope="openid profile", member=member, code=code_row,
                                 parent=parent)
    return access, refresh, token


def test_apps_keep_scopes_in_one_spelling_and_refuse_what_cannot_be(session, org):
    app, secret = partners.create_app(session, org.id, actor=org.actor, name=" Shop ",
                                      auth_valid_scopes=["wallet:read", "openid", "openid"])
    assert app.name == "Shop" and app.auth_valid_scopes == ["openid", "wallet:read"] and secret.startswith("pcs_")
    assert app.check_client_secret(secret) and not app.check_client_secret(secret + "x")
    public, none = partners.create_app(session, org.id, actor=org.actor, name="App", client_type=partners.PUBLIC)
    assert none is None and not public.check_client_secret("")
    with pytest.raises(ValidationFailed) as info:
        partners.rotate_secret(session, public, actor=org.actor)
    assert info.value.field == "clientType"
    for fields, field in (({"client_type": "other"}, "clientType"), ({"auth_valid_scopes": ["root"]},
                                                                     "authValidScopes"),
                          ({"auth_redirect_url": "ftp://x.example/cb"}, "authRedirectUrl"),
                          ({"auth_redirect_url": "https://x.example:99999/cb"}, "authRedirectUrl")):
        with pytest.raises(ValidationFailed) as info:
            partners.create_app(session, org.id, actor=org.actor, name="Bad", **fields)
        assert info.value.field == field
    with pytest.raises(ValidationFailed):
        partners.update_app(session, app, actor=org.actor, client_type=partners.PUBLIC)
    assert app.get_allowed_scope("openid wallet:read") == "openid wallet:read"
    assert app.get_allowed_scope("openid email") is None


def test_redirect_uris_match_exactly(session, world):
    app, _, _ = world
    assert app.check_redirect_uri(REDIRECT)
    for other in (REDIRECT + "/", REDIRECT.upper(), REDIRECT + "?a=1", "https://partner.example/callbac"):
        assert not app.check_redirect_uri(other)


def test_a_code_is_claimed_once_and_a_second_claim_revokes_its_tokens(session, world):
    app, _, member = world
    raw, _ = new_code(session, app, member)
    claimed = partners.claim_code(session, app, raw)
    assert claimed is not None and claimed.used_at is not None
    access, refresh, first = tokens_from(session, app, member, claimed)
    assert partners.authenticate_access_token(session, access) is not None
    assert partners.rotate_refresh_token(session, partners.usable_refresh_token(session, app, refresh))
    refreshed, _, _ = tokens_from(session, app, member, parent=first)
    assert partners.claim_code(session, app, raw) is None
    assert partners.authenticate_access_token(session, access) is None
    assert partners.authenticate_access_token(session, refreshed) is None  # descendants too


def test_a_code_of_another_app_or_past_its_lifetime_is_nothing(session, org, world):
    app, _, member = world
    other, _ = factories.make_partner_app(session, org, name="Other")
    raw, _ = new_code(session, app, member)
    assert partners.claim_code(session, other, raw) is None
    assert partners.claim_code(session, app, raw) is not None  # the other app's try did not use it up
    old, _ = new_code(session, app, member, now=utcnow() - partners.CODE_LIFETIME - dt.timedelta(seconds=1))
    assert partners.claim_code(session, app, old) is None
    assert partners.claim_code(session, app, "nonsense") is None


def test_refresh_tokens_rotate_within_a_family_and_reuse_revokes_it(session, world):
    app, _, member = world
    _, refresh, first = tokens_from(session, app, member)
    found = partners.usable_refresh_token(session, app, refresh)
    assert found is first and partners.rotate_refresh_token(session, found)
    access2, refresh2, second = tokens_from(session, app, member, parent=first)
    assert second.family_id == first.family_id
    assert partners.usable_refresh_token(session, app, refresh) is None  # presented again
    assert partners.authenticate_access_token(session, access2) is None
    assert partners.usable_refresh_token(session, app, refresh2) is None


def test_a_member_of_another_organisation_cannot_be_granted(session, world, other_org):
    app, _, _ = world
    stranger = factories.make_member(session, other_org)
    with pytest.raises(partners.AppOfAnotherOrganisation):
        new_code(session, app, stranger)
    with pytest.raises(partners.AppOfAnotherOrganisation):
        partners.record_consent(session, app, stranger, "openid", actor=other_org.actor)


def test_tokens_stop_with_a_disabled_app_or_an_erased_member(session, org, world):
    app, _, member = world
    access, _, _ = tokens_from(session, app, member)
    self_service.erase_member(session, member, actor=org.actor)
    assert partners.authenticate_access_token(session, access) is None
    other = factories.make_member(session, org)
    access, _, _ = tokens_from(session, app, other)
    partners.update_app(session, app, actor=org.actor, active=False)
    assert partners.authenticate_access_token(session, access) is None
    assert partners.find_client(session, app.client_id) is None


def test_consents_cover_subsets_and_disconnecting_ends_everything(session, org, world):
    app, _, member = world
    partners.record_consent(session, app, member, "profile openid", actor=org.actor)
    again = partners.record_consent(session, app, member, "openid profile", actor=org.actor)
    assert again.scope == "openid profile"
    assert partners.consent_covers(session, app, member, "openid")
    assert not partners.consent_covers(session, app, member, "openid email")
    partners.record_consent(session, app, member, "wallet:read", actor=org.actor)
    [connection] = partners.connections(session, member)
    assert connection.app is app and connection.scopes == ["openid", "profile", "wallet:read"]
    raw, _ = new_code(session, app, member)
    access, _, _ = tokens_from(session, app, member)
    partners.disconnect_app(session, member, app.id, actor=org.actor)
    assert partners.connections(session, member) == []
    assert partners.authenticate_access_token(session, access) is None
    assert partners.claim_code(session, app, raw) is None
    assert not partners.consent_covers(session, app, member, "openid")
    with pytest.raises(NotFound):
        partners.disconnect_app(session, member, app.id, actor=org.actor)
