"""Partner apps (`portals`) through the API: the seed's fields, client id, a secret shown once and stored
hashed, rotation, disabling, isolation between organisations, roles."""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from portal.domain import partners
from portal.domain.partners import PartnerApp
from tests import factories

from .conftest import problem

BODY = {"name": "Coffee partner", "active": True, "authRedirectUrl": "https://coffee.example/cb",
        "authValidScopes": ["openid", "profile", "wallet:read"], "theme": {"color": "#123456"},
        "links": {"home": "https://coffee.example"}, "forms": {"signup": "abc"}, "metadata": {"crm": 7},
        "customAttributes": {"tier": "gold"}, "createdAt": "2019-08-24T14:15:22Z"}


def test_create_shows_the_secret_once_and_stores_only_its_hash(api, session, org):
    r = api.post("/portals", json=BODY)
    assert r.status_code == 201, r.json
    portal = r.json["portal"]
    assert portal["clientType"] == "confidential" and portal["clientId"].startswith("pc_")
    secret = portal["clientSecret"]
    assert secret and portal["publicId"] and portal["connectedMembers"] == 0
    for name in ("name", "authRedirectUrl", "authValidScopes", "theme", "links", "forms", "metadata",
                 "customAttributes", "active"):
        assert portal[name] == BODY[name], name
    assert portal["createdAt"] != BODY["createdAt"]
    row = session.get(PartnerApp, portal["id"])
    assert row.client_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr([getattr(row, c.key) for c in PartnerApp.__table__.columns])
    again = api.get(f"/portals/{portal['id']}").json["portal"]
    assert again["clientSecret"] is None and again["clientId"] == portal["clientId"]
    assert api.get(f"/portals/public/{portal['publicId']}").json["portal"]["id"] == portal["id"]
    listed = api.get(f"/portals?publicId={portal['publicId']}").json
    assert listed["totalCount"] == 1 and listed["results"][0]["clientSecret"] is None


def test_a_public_app_has_no_secret_and_cannot_rotate_one(api):
    r = api.post("/portals", json={**BODY, "clientType": "public"})
    assert r.status_code == 201 and r.json["portal"]["clientSecret"] is None
    problem(api.post(f"/portals/{r.json['portal']['id']}/rotate-secret"), 422, "clientType")


def test_rotation_replaces_the_secret_at_once(api, session):
    created = api.post("/portals", json=BODY).json["portal"]
    rotated = api.post(f"/portals/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    new_secret = rotated.json["portal"]["clientSecret"]
    assert new_secret and new_secret != created["clientSecret"] and rotated.json["portal"]["secretRotatedAt"]
    app = session.get(PartnerApp, created["id"])
    session.refresh(app)
    assert app.check_client_secret(new_secret) and not app.check_client_secret(created["clientSecret"])


def test_patch_changes_fields_and_disabling_revokes_tokens(api, session, org):
    created = api.post("/portals", json=BODY).json["portal"]
    r = api.patch(f"/portals/{created['id']}", json={"name": "Renamed", "authValidScopes": ["openid"],
                                                    "publicId": created["publicId"]})
    assert r.status_code == 200 and r.json["portal"]["name"] == "Renamed"
    assert r.json["portal"]["authValidScopes"] == ["openid"] and r.json["portal"]["theme"] == BODY["theme"]
    problem(api.patch(f"/portals/{created['id']}", json={"publicId": "other"}), 422, "publicId")
    problem(api.patch(f"/portals/{created['id']}", json={"clientType": "public"}), 422, "clientType")
    app = session.get(PartnerApp, created["id"])
    member = factories.make_member(session, org)
    token = factories.member_token(session, app, member, "openid")
    assert api.patch(f"/portals/{created['id']}", json={"active": False}).json["portal"]["active"] is False
    session.expire_all()
    assert all(t.revoked_at for t in session.scalars(select(partners.OAuthToken)))
    assert partners.authenticate_access_token(session, token) is None


def test_bad_fields_are_named(api):
    for field, value, named in (("authRedirectUrl", "http://coffee.example/cb", None),
                                ("authRedirectUrl", "/relative", None),
                                ("authRedirectUrl", "https://coffee.example/cb#x", None),
                                ("authValidScopes", ["admin"], "authValidScopes[0]"), ("clientType", "secret", None),
                                ("name", "", None), ("loyaltyProgramId", 999999, None)):
        status = 404 if field == "loyaltyProgramId" else 422
        problem(api.post("/portals", json={**BODY, field: value}), status, named or field)
    loopback = api.post("/portals", json={**BODY, "authRedirectUrl": "http://127.0.0.1:8001/callback"})
    assert loopback.status_code == 201


def test_another_organisations_app_is_not_found_and_roles_count(api, session, org, other_org):
    created = api.post("/portals", json=BODY).json["portal"]
    theirs = api.as_(other_org.api_key)
    problem(theirs.get(f"/api/v1/organizations/{other_org.id}/portals/{created['id']}"), 404, "portalId")
    problem(theirs.get(f"/api/v1/organizations/{other_org.id}/portals/public/{created['publicId']}"), 404, "publicId")
    problem(theirs.patch(f"/api/v1/organizations/{other_org.id}/portals/{created['id']}", json={"name": "x"}), 404)
    reader = api.as_(factories.make_key(session, org, ["partnerships:read"]))
    assert reader.get("/portals").status_code == 200
    problem(reader.post("/portals", json=BODY), 403)
    problem(reader.post(f"/portals/{created['id']}/rotate-secret"), 403)
    problem(api.as_(factories.make_key(session, org, ["members:read"])).get("/portals"), 403)


def test_connected_members_are_counted_per_app(api, session, org):
    app, _ = factories.make_partner_app(session, org)
    for _ in range(2):
        member = factories.make_member(session, org)
        partners.record_consent(session, app, member, "openid profile", actor=org.actor)
        partners.record_consent(session, app, member, "openid", actor=org.actor)
    leaver = factories.make_member(session, org)
    partners.record_consent(session, app, leaver, "openid", actor=org.actor)
    partners.disconnect_app(session, leaver, app.id, actor=org.actor)
    assert api.get(f"/portals/{app.id}").json["portal"]["connectedMembers"] == 2
    assert api.get("/portals").json["results"][0]["connectedMembers"] == 2
