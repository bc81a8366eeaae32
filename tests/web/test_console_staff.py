"""Roles in the console, staff users, API keys (secret shown once) and the audit log."""
from __future__ import annotations

from sqlalchemy import select

from portal.domain import staff
from portal.domain.audit import AuditEntry
from portal.domain.staff import ApiKey, StaffUser
from tests import factories

from .page import page

ALL_LINKS = ["Dashboard", "Members", "Staff users", "API keys", "Audit log"]


def nav_links(response) -> list[str]:
    return page(response).texts("nav.sidenav a")


# --- roles and navigation ---------------------------------------------------------------

def test_admin_sees_every_link(console, signed_in):
    links = nav_links(console.get("/console/"))
    assert links[:len(ALL_LINKS)] == ALL_LINKS  # other areas may register more after these


def test_navigation_shows_only_permitted_links(console, make_staff):
    reader = make_staff(["members:read", "ledgers:write"])
    console.login(reader.email)
    response = console.get("/console/members")
    assert nav_links(response) == ["Dashboard", "Members", "Jobs"]  # jobs: imports are members:read
    assert page(response).one("nav.sidenav a[aria-current=page]").text == "Members"


def test_staff_without_roles_sees_the_dashboard_only(console, make_staff):
    nobody = make_staff([])
    console.login(nobody.email)
    assert nav_links(console.get("/console/")) == ["Dashboard"]
    for path in ("/console/members", "/console/staff", "/console/api-keys", "/console/audit"):
        response = console.get(path)
        assert response.status_code == 403, path
        assert "do not have access" in page(response).text("h1")
        assert nav_links(response) == ["Dashboard"]  # the 403 page keeps the layout


def test_reader_cannot_create_users_or_keys(console, make_staff, session, org):
    reader = make_staff(["users:read"])
    console.login(reader.email)
    listing = page(console.get("/console/staff"))
    assert reader.email in listing.texts("#staff-table td")
    assert not listing.has("#staff-form")
    assert not page(console.get("/console/api-keys")).has("#key-form")
    response = console.post("/console/staff", {"email": "new@example.com", "password": "long-enough-1",
                                               "roles": ["members:read"]})
    assert response.status_code == 403
    assert console.post("/console/api-keys", {"name": "x", "roles": ["members:read"]}).status_code == 403
    assert factories.first(session, StaffUser, StaffUser.email == "new@example.com") is None


# --- staff users ---------------------------------------------------------------------------

def test_admin_creates_a_staff_user_who_can_sign_in(console, signed_in, session, client, app):
    response = console.post("/console/staff", {"email": "Clerk@Example.com", "name": "Clerk", "password": "clerk-pass-42",
                                               "roles": ["members:read", "ledgers:write"]})
    assert response.status_code == 302
    listing = page(console.get("/console/staff"))
    assert "Staff user clerk@example.com created." in listing.text(".flashes")
    user = session.scalars(select(StaffUser).where(StaffUser.email == "clerk@example.com")).one()
    assert user.roles == ["ledgers:write", "members:read"] and user.organization_id == signed_in.organization_id
    console.logout()
    assert console.login("clerk@example.com", "clerk-pass-42").status_code == 302
    assert nav_links(console.get("/console/")) == ["Dashboard", "Members", "Jobs"]


def test_nobody_grants_a_role_they_do_not_hold(console, make_staff, session):
    manager = make_staff(["users:read", "users:write", "members:read"])
    console.login(manager.email)
    form = page(console.get("/console/staff"))
    assert form.one("#staff-form input[value='ledgers:write']").get("disabled") is not None
    assert form.one("#staff-form input[value='members:read']").get("disabled") is None
    response = console.post("/console/staff", {"email": "escalate@example.com", "password": "long-enough-1",
                                               "roles": ["members:read", "ledgers:write"]})
    assert response.status_code == 422
    assert "ledgers:write" in page(response).text("#roles-error")
    assert factories.first(session, StaffUser, StaffUser.email == "escalate@example.com") is None
    ok = console.post("/console/staff", {"email": "peer@example.com", "password": "long-enough-1",
                                         "roles": ["members:read"]})
    assert ok.status_code == 302


def test_staff_form_errors_land_on_their_fields(console, signed_in, session):
    weak = console.post("/console/staff", {"email": "weak@example.com", "password": "short", "roles": ["admin"]})
    assert weak.status_code == 422
    assert "at least" in page(weak).text("#password-error")
    taken = console.post("/console/staff", {"email": signed_in.email, "password": "long-enough-1",
                                            "roles": ["admin"]})
    assert "already exists" in page(taken).text("#email-error")
    no_roles = console.post("/console/staff", {"email": "noroles@example.com", "password": "long-enough-1"})
    assert page(no_roles).text("#roles-error")
    assert page(no_roles).one("#email").get("value") == "noroles@example.com"
    assert factories.first(session, StaffUser, StaffUser.email.in_(
        ["weak@example.com", "noroles@example.com"])) is None


def test_staff_list_is_limited_to_the_organisation(console, signed_in, other_org, session):
    outsider = factories.make_staff(session, other_org, email="outsider@example.com")
    session.commit()
    assert outsider.email not in page(console.get("/console/staff")).text("#staff-table")


# --- API keys ---------------------------------------------------------------------------------

def test_api_key_secret_is_shown_exactly_once(console, signed_in, session):
    response = console.post("/console/api-keys", {"name": "Till 3", "roles": ["members:read", "ledgers:write"]})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = page(response).one("#new-secret").get("value")
    assert secret.startswith("pk_")
    key = staff.authenticate_api_key(session, secret)
    assert key is not None and key.name == "Till 3" and key.roles == ["ledgers:write", "members:read"]
    assert key.organization_id == signed_in.organization_id
    again = console.get("/console/api-keys").get_data(as_text=True)
    assert secret not in again and secret.split("_", 2)[2] not in again
    assert "Till 3" in page(console.get("/console/api-keys")).text("#keys-table")


def test_sending_the_key_form_twice_creates_one_key(console, signed_in, session):
    form = {"name": "Kiosk", "roles": ["members:read"], "key": "form-nonce-1"}
    first = console.post("/console/api-keys", form)
    assert page(first).one("#new-secret").get("value").startswith("pk_")
    again = console.post("/console/api-keys", form)
    assert again.status_code == 302
    listing = page(console.get(again.headers["Location"]))
    assert "already sent" in listing.text(".flashes") and not listing.has("#new-secret")
    assert len(session.scalars(select(ApiKey).where(ApiKey.name == "Kiosk")).all()) == 1


def test_api_key_roles_must_be_grantable(console, make_staff, session):
    manager = make_staff(["users:read", "users:write"])
    console.login(manager.email)
    response = console.post("/console/api-keys", {"name": "too strong", "roles": ["admin"]})
    assert response.status_code == 422
    assert "admin" in page(response).text("#roles-error")
    assert not page(response).has("#new-secret")
    assert factories.first(session, ApiKey, ApiKey.name == "too strong") is None


def test_revoke_api_key(console, signed_in, session, org):
    secret = factories.make_key(session, org, ["members:read"])
    session.commit()
    key = staff.authenticate_api_key(session, secret)
    response = console.post(f"/console/api-keys/{key.id}/revoke")
    assert response.status_code == 302
    assert "revoked" in page(console.get("/console/api-keys")).text(".flashes")
    assert staff.authenticate_api_key(session, secret) is None


def test_revoking_another_organisations_key_is_not_found(console, signed_in, session, other_org):
    secret = factories.make_key(session, other_org, ["members:read"])
    session.commit()
    key = staff.authenticate_api_key(session, secret)
    assert console.post(f"/console/api-keys/{key.id}/revoke").status_code == 404
    assert staff.authenticate_api_key(session, secret) is not None
    assert "limited" not in page(console.get("/console/api-keys")).text("#keys-table")


# --- audit log ------------------------------------------------------------------------------------

def test_audit_log_lists_own_organisation_newest_first(console, signed_in, session, org, other_org):
    member = factories.make_member(session, org)
    factories.make_member(session, other_org)
    session.commit()
    console.post(f"/console/members/{member.id}/points", {"adjust-amount": "5", "adjust-reason": "Audit me"})
    log = page(console.get("/console/audit"))
    rows = log.texts("#audit-table tbody tr")
    assert "ledger.minted" in rows[0] and signed_in.email in rows[0]
    own_ids = set(session.scalars(select(AuditEntry.id).where(AuditEntry.organization_id == org.id)))
    assert len(rows) == min(len(own_ids), 50)


def test_audit_log_pages_with_an_htmx_partial(console, signed_in, session, org):
    for _ in range(55):
        factories.make_member(session, org)
    session.commit()
    response = console.get("/console/audit?page=2", headers={"HX-Request": "true"})
    assert "<html" not in response.get_data(as_text=True) and "HX-Request" in response.headers["Vary"]
    second = page(response)
    total = session.scalars(select(AuditEntry.id).where(AuditEntry.organization_id == org.id)).all()
    assert len(second.texts("#audit-table tbody tr")) == len(total) - 50
    assert second.one(".pager a[rel=prev]").get("hx-target") == "#audit-rows"



# --- one email in several organisations -----------------------------------------------------

def test_an_email_used_in_another_organisation_is_free_here(console, signed_in, session, make_staff):
    elsewhere = factories.make_org(session, name="Elsewhere")
    make_staff(["admin"], bundle=elsewhere, email="shared@example.com")
    response = console.post("/console/staff", {"email": "shared@example.com", "password": "long-enough-1",
                                               "roles": ["members:read"]})
    assert response.status_code == 302  # nothing tells that the address is used elsewhere
    users = session.scalars(select(StaffUser).where(StaffUser.email == "shared@example.com")).all()
    assert sorted(u.organization_id for u in users) == sorted([elsewhere.id, signed_in.organization_id])
    again = console.post("/console/staff", {"email": "shared@example.com", "password": "long-enough-1",
                                            "roles": ["members:read"]})
    assert again.status_code == 422 and "already exists" in page(again).text("#email-error")


def test_the_password_decides_which_organisation_an_email_signs_in_to(console, session, org):
    elsewhere = factories.make_org(session, name="Elsewhere")
    here = factories.make_staff(session, org, email="both@example.com", password="password-here-1")
    there = factories.make_staff(session, elsewhere, email="both@example.com", password="password-there-1")
    session.commit()
    for user, password in ((there, "password-there-1"), (here, "password-here-1")):
        assert console.login("both@example.com", password).status_code == 302
        console.get("/console/")
        assert session.get(StaffUser, user.id).last_login_at is not None
        console.logout()
    assert console.login("both@example.com", "neither-password-1").status_code == 200
    assert not console.signed_in
