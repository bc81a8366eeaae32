"""Partner apps in the console: create (the secret shown once, on the answer), edit with errors on their
fields, disable and enable, rotate the secret, connected members per app, roles, CSRF and isolation."""
from __future__ import annotations

import hashlib


from portal.domain import partners
from portal.domain.partners import PartnerApp
from tests import factories

from .console_helpers import ConsoleForm
from .page import page


def shown_secret(response) -> str:
    """The client secret the page shows once (#new-secret)."""
    return page(response).one("#new-secret").get("value")


FORM = ConsoleForm("/console/partner-apps/new", name="Coffee Club", client_type="confidential",
                   auth_redirect_url="https://coffee.example/cb",
                   auth_valid_scopes=["openid", "profile", "wallet:read"])


def app_named(session, name: str) -> PartnerApp | None:
    session.expire_all()
    return factories.first(session, PartnerApp, PartnerApp.name == name)


def test_create_shows_the_secret_once_and_keeps_only_its_hash(console, signed_in, session):
    response = FORM.submit(console)
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    secret = shown_secret(response)
    app = app_named(session, "Coffee Club")
    assert app.client_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert app.auth_valid_scopes == ["openid", "profile", "wallet:read"] and app.client_type == "confidential"
    detail = console.get(f"/console/partner-apps/{app.id}")
    assert secret not in detail.get_data(as_text=True) and app.client_id in detail.get_data(as_text=True)
    with console.client.session_transaction() as stored:  # not kept for a later page either (Flask's session is a cookie)
        assert secret not in repr(dict(stored))


def test_bad_fields_are_shown_on_their_fields_and_nothing_is_created(console, signed_in, session):
    response = FORM.submit(console, auth_redirect_url="http://coffee.example/cb")
    assert response.status_code == 422
    assert "https" in page(response).text("#auth_redirect_url-error")
    missing = FORM.submit(console, name="")
    assert missing.status_code == 422 and page(missing).has("#name-error")
    assert app_named(session, "Coffee Club") is None


def test_a_public_app_has_no_secret_and_no_rotate_button(console, signed_in, session):
    response = FORM.submit(console, client_type="public", name="Mobile")
    assert response.status_code == 201 and not page(response).has("#new-secret")
    app = app_named(session, "Mobile")
    assert app.client_secret_hash is None
    assert "Rotate secret" not in console.get(f"/console/partner-apps/{app.id}").get_data(as_text=True)


def test_edit_disable_enable_and_rotate(console, signed_in, session, org):
    app, first_secret = factories.make_partner_app(session, org, name="Bakery")
    member = factories.make_member(session, org)
    token = factories.member_token(session, app, member, "openid")
    session.commit()
    edit = console.post(f"/console/partner-apps/{app.id}/edit", {"name": "Bakery 2",
                                                                 "auth_redirect_url": "https://bakery.example/cb",
                                                                 "auth_valid_scopes": ["openid"]})
    assert edit.status_code == 302
    assert app_named(session, "Bakery 2").auth_redirect_url == "https://bakery.example/cb"
    rotated = console.post(f"/console/partner-apps/{app.id}/rotate-secret")
    new_secret = shown_secret(rotated)
    app = app_named(session, "Bakery 2")
    assert app.check_client_secret(new_secret) and not app.check_client_secret(first_secret)
    assert console.post(f"/console/partner-apps/{app.id}/active", {"active": "off"}).status_code == 302
    assert not app_named(session, "Bakery 2").active
    assert partners.authenticate_access_token(session, token) is None
    assert console.post(f"/console/partner-apps/{app.id}/active", {"active": "on"}).status_code == 302
    assert app_named(session, "Bakery 2").active
    assert partners.authenticate_access_token(session, token) is None  # revoked for good, not paused


def test_the_list_counts_connected_members_per_app(console, signed_in, session, org):
    app, _ = factories.make_partner_app(session, org, name="Counted")
    lonely, _ = factories.make_partner_app(session, org, name="Lonely")
    for _ in range(3):
        partners.record_consent(session, app, factories.make_member(session, org), "openid", actor=org.actor)
    session.commit()
    doc = page(console.get("/console/partner-apps"))
    assert doc.text(f'tr[data-app-id="{app.id}"] [data-count="connected"]') == "3"
    assert doc.text(f'tr[data-app-id="{lonely.id}"] [data-count="connected"]') == "0"
    assert page(console.get(f"/console/partner-apps/{app.id}")).text("#count-connected") == "3"


def test_roles_csrf_and_isolation(console, sign_in_as, session, org, other_org, client):
    theirs, _ = factories.make_partner_app(session, other_org, name="Theirs")
    mine, _ = factories.make_partner_app(session, org, name="Mine")
    session.commit()
    sign_in_as(["partnerships:read"])
    assert console.get("/console/partner-apps").status_code == 200
    assert console.get(f"/console/partner-apps/{theirs.id}").status_code == 404
    assert FORM.submit(console, name="Nope").status_code == 403
    assert console.post(f"/console/partner-apps/{mine.id}/rotate-secret").status_code == 403
    no_csrf = client.post(f"/console/partner-apps/{mine.id}/active", data={"active": "off"})
    assert no_csrf.status_code == 400  # the CSRF check, before the role check could answer 403
    assert app_named(session, "Mine").active and app_named(session, "Nope") is None
    sign_in_as(["members:read"])
    assert console.get("/console/partner-apps").status_code == 403
