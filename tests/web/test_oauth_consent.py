"""The consent page (member portal look, English and German, login first), remembered consents, and
connected apps on /profile: a member disconnects one and its tokens stop working at once."""
from __future__ import annotations

from sqlalchemy import select

from portal.domain import partners
from portal.domain.audit import AuditEntry
from portal.domain.partners import OAuthConsent

from .oauth_helpers import (PASSWORD, REDIRECT, Partner, fresh_client, logged_in, make_member,  # noqa: F401
                            make_partner_app, member, partner, portal, query_of)
from .page import page


def test_login_comes_first_then_the_consent_in_the_member_portal_look(portal, member, make_partner_app):
    app, secret = make_partner_app(name="Coffee Club")
    partner = Partner(portal.client, app, secret)
    first = partner.authorize(scope="openid wallet:read")
    assert first.status_code == 302 and first.location.startswith("/login?next=/oauth/authorize")
    login_page = page(portal.get(first.location))
    back_to = login_page.one('main input[name="next"]').get("value")
    assert back_to == query_of(first.location)["next"] and back_to.startswith("/oauth/authorize?")
    signed_in = portal.login(member.email, next=back_to)
    assert signed_in.status_code == 302 and signed_in.location.startswith("/oauth/authorize?")
    doc = page(portal.get(signed_in.location))
    assert doc.has("a.skip-link") and doc.has("header.site-header") and doc.has("nav.main-nav")
    assert "Coffee Club" in doc.text("h1")
    assert doc.texts("ul.scope-list li") == ["Confirm who you are when you sign in",
                                             "See your points balance and points history"]
    assert doc.has('button[name="decision"][value="allow"]') and doc.has('button[name="decision"][value="deny"]')


def test_the_consent_page_speaks_german(portal, logged_in, make_partner_app, session):
    logged_in.locale = "de"
    session.commit()
    app, secret = make_partner_app(name="Kaffeeklub")
    doc = page(Partner(portal.client, app, secret).authorize(scope="openid email coupons:write"))
    assert doc.one("html").get("lang") == "de"
    assert doc.texts("ul.scope-list li") == ["Bestätigen, wer Sie sind, wenn Sie sich anmelden",
                                             "Ihre E-Mail-Adresse sehen",
                                             "Angebotene Coupons für Sie holen und Ihre Coupons aktivieren"]
    assert doc.text('button[value="allow"]') == "Erlauben" and doc.text('button[value="deny"]') == "Ablehnen"


def test_a_consent_is_remembered_per_app_and_scope_set(partner, session):
    partner.code(scope="openid profile")
    again = partner.authorize(scope="openid profile")
    assert again.status_code == 302 and "code" in query_of(again.location)
    assert partner.authorize(scope="profile").status_code == 302  # within what was allowed
    wider = partner.authorize(scope="openid profile wallet:read")
    assert wider.status_code == 200 and b"scope-list" in wider.data  # asks again for more
    forced = partner.authorize(scope="openid profile", prompt="consent")
    assert forced.status_code == 200
    silent = partner.authorize(scope="openid coupons:write", prompt="none")
    assert query_of(silent.location)["error"] == "consent_required"
    assert len(session.scalars(select(OAuthConsent)).all()) == 1
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "oauth.consent_given")).one()
    assert entry.actor_kind == "member" and "@" not in repr(entry.details)


def test_a_member_of_another_organisation_cannot_grant_an_app(portal, logged_in, make_partner_app, other_org):
    app, secret = make_partner_app(bundle=other_org)
    response = Partner(portal.client, app, secret).authorize()
    assert response.status_code == 400 and "Location" not in response.headers


def test_profile_lists_connected_apps_and_disconnecting_stops_tokens_at_once(partner, portal, client, session):
    tokens = partner.tokens(scope="openid wallet:read")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/oauth/userinfo", headers=bearer).status_code == 200
    doc = portal.page("/profile")
    listed = doc.one(f'li.connected-app[data-app="{partner.app.public_id}"]')
    assert "Partner" in "".join(listed.itertext()) and "points balance" in "".join(listed.itertext())
    response = portal.submit(f"/profile/apps/{partner.app.id}/disconnect", {}, token_from="/profile", prefix="app")
    assert response.status_code == 302
    assert client.get("/oauth/userinfo", headers=bearer).status_code == 401
    assert partner.refresh(tokens["refresh_token"]).status_code == 400
    assert not portal.page("/profile").has("li.connected-app")
    assert partners.connected_member_counts(session, [partner.app.id]) == {}
    assert partner.authorize(scope="openid wallet:read").status_code == 200  # asks for consent again


def test_disconnect_needs_csrf_and_only_ones_own_connection(partner, portal, session, org, make_partner_app):
    partner.tokens()
    assert portal.client.post(f"/profile/apps/{partner.app.id}/disconnect").status_code == 400
    other_app, _ = make_partner_app(name="Unconnected")
    assert portal.submit(f"/profile/apps/{other_app.id}/disconnect", {}, token_from="/profile",
                         prefix="app").status_code == 404
    assert partners.connected_member_counts(session, [partner.app.id]) == {partner.app.id: 1}
