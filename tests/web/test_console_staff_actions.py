"""Staff users in the console: deactivate (sessions and the API keys they created stop at once),
reactivate, change roles (only grantable ones), and a password-reset link by mail."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.domain import staff
from portal.domain.audit import AuditEntry
from portal.domain.staff import ApiKey, StaffUser
from tests.factories import count
from tests.mailsink import mail_sink, smtp_sink  # noqa: F401  (fixtures)

from .console_helpers import PASSWORD, Console
from .member_helpers import fresh_client
from .page import page

NEW_PASSWORD = "a brand new one 7"


@pytest.fixture
def console(app):
    """Several browsers take part here: each request of each starts with a fresh `g`."""
    return Console(fresh_client(app))


def fresh(session, user) -> StaffUser:
    session.expire_all()
    return session.get(StaffUser, user.id)


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


def test_deactivation_ends_sessions_and_the_keys_they_created_then_reactivation(console, signed_in, make_staff,
                                                                                app, session, org):
    clerk = make_staff(["members:read", "users:read", "users:write"])
    other = Console(fresh_client(app))
    assert other.login(clerk.email).status_code == 302
    raw = page(other.post("/console/api-keys", {"name": "till", "roles": ["members:read"], "key": "k1"})).one(
        "#new-secret").get("value")
    key = session.scalars(select(ApiKey).where(ApiKey.name == "till")).one()
    assert key.created_by_id == clerk.id
    members_url = f"/api/v1/organizations/{org.id}/members"
    assert fresh_client(app).get(members_url, headers=bearer(raw)).status_code == 200

    assert console.post(f"/console/staff/{clerk.id}/deactivate").status_code == 302
    assert other.get("/console/members").status_code == 302  # their session ended: back to sign-in
    assert fresh_client(app).get(members_url, headers=bearer(raw)).status_code == 401
    session.expire_all()
    assert session.get(ApiKey, key.id).revoked_at is not None
    assert Console(fresh_client(app)).login(clerk.email).status_code != 302

    listing = page(console.get("/console/staff"))
    assert listing.has(f'form[action="/console/staff/{clerk.id}/reactivate"]')
    assert console.post(f"/console/staff/{clerk.id}/reactivate").status_code == 302
    assert fresh(session, clerk).active
    assert Console(fresh_client(app)).login(clerk.email).status_code == 302
    # Revoked for good: reactivating the user does not bring the key back.
    assert fresh_client(app).get(members_url, headers=bearer(raw)).status_code == 401
    actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.target_type == "staffuser",
                                                                          AuditEntry.target_id == str(clerk.id)))]
    assert actions[-2:] == ["staff.deactivated", "staff.reactivated"]


def test_keys_of_other_creators_survive_a_deactivation(console, signed_in, make_staff, session, org):
    clerk = make_staff(["members:read"])
    kept, _ = staff.create_api_key(session, org.id, name="org key", roles=["members:read"], actor=org.actor)
    session.commit()
    assert console.post(f"/console/staff/{clerk.id}/deactivate").status_code == 302
    session.expire_all()
    assert session.get(ApiKey, kept.id).revoked_at is None


def test_change_roles(console, signed_in, make_staff, session):
    clerk = make_staff(["members:read"])
    form = page(console.get(f"/console/staff/{clerk.id}/edit"))
    assert form.one('#roles-form input[value="members:read"]').get("checked") is not None
    response = console.post(f"/console/staff/{clerk.id}/edit", {"roles": ["orders:read", "orders:write"]})
    assert response.status_code == 302
    assert fresh(session, clerk).roles == ["orders:read", "orders:write"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "staff.roles_changed")).one()
    assert (entry.details["before"], entry.details["after"]) == (["members:read"], ["orders:read", "orders:write"])
    refused = console.post(f"/console/staff/{clerk.id}/edit", {})
    assert refused.status_code == 422
    assert fresh(session, clerk).roles == ["orders:read", "orders:write"]


def test_only_grantable_roles_and_never_ones_own(console, make_staff, session):
    user_admin = make_staff(["users:read", "users:write", "members:read"])
    clerk = make_staff(["members:read"])
    boss = make_staff(["admin"])
    console.login(user_admin.email)
    refused = console.post(f"/console/staff/{clerk.id}/edit", {"roles": ["members:read", "ledgers:write"]})
    assert refused.status_code == 422
    assert "ledgers:write" in page(refused).text("#roles-form")
    assert fresh(session, clerk).roles == ["members:read"]
    assert console.post(f"/console/staff/{boss.id}/edit", {"roles": ["members:read"]}).status_code == 403
    assert fresh(session, boss).roles == ["admin"]
    assert console.post(f"/console/staff/{user_admin.id}/edit", {"roles": ["admin"]}).status_code == 403
    assert console.post(f"/console/staff/{boss.id}/reactivate").status_code == 403
    assert console.post(f"/console/staff/{boss.id}/reset-password").status_code == 403


def test_users_read_cannot_act_on_staff(console, make_staff, sign_in_as, session):
    clerk = make_staff(["members:read"])
    sign_in_as(["users:read"])
    listing = page(console.get("/console/staff"))
    assert not listing.has(f'a[href="/console/staff/{clerk.id}/edit"]')
    audited = count(session, AuditEntry)
    for path in ("deactivate", "reactivate", "reset-password", "edit"):
        assert console.post(f"/console/staff/{clerk.id}/{path}", {"roles": ["coupons:read"]}).status_code == 403
        # Checked after each post: a deactivation would otherwise be undone by the reactivation after it.
        assert fresh(session, clerk).active and fresh(session, clerk).roles == ["members:read"], path
    assert count(session, AuditEntry) == audited  # every staff action is audited: no reset mail was sent either


def test_foreign_staff_user_is_a_404(console, signed_in, session, other_org, make_staff):
    foreign = make_staff(["members:read"], bundle=other_org)
    for path in ("deactivate", "reactivate", "reset-password"):
        assert console.post(f"/console/staff/{foreign.id}/{path}").status_code == 404
    assert console.get(f"/console/staff/{foreign.id}/edit").status_code == 404
    assert fresh(session, foreign).active


def test_password_reset_by_mail_is_a_one_time_link(console, signed_in, make_staff, app, session, mail_sink):
    clerk = make_staff(["members:read"])
    logged = Console(fresh_client(app))
    assert logged.login(clerk.email).status_code == 302
    assert console.post(f"/console/staff/{clerk.id}/reset-password").status_code == 302
    [message] = mail_sink.wait_for(clerk.email)
    [link] = [url for url in message.links if "/console/password-reset/" in url]
    assert link.startswith(app.config["PORTAL_BASE_URL"])
    path = urlsplit(link).path
    assert Console(fresh_client(app)).login(clerk.email).status_code == 302  # the old password works meanwhile

    visitor = Console(fresh_client(app))
    assert page(visitor.get(path)).has("#reset-form")
    mismatch = visitor.client.post(path, data={"csrf_token": visitor.csrf_token(path), "password": NEW_PASSWORD,
                                               "confirm": "something else 1"})
    assert mismatch.status_code == 422
    weak = visitor.client.post(path, data={"csrf_token": visitor.csrf_token(path), "password": "short",
                                           "confirm": "short"})
    assert weak.status_code == 422 and "at least" in page(weak).text("#reset-form")
    done = visitor.client.post(path, data={"csrf_token": visitor.csrf_token(path), "password": NEW_PASSWORD,
                                           "confirm": NEW_PASSWORD})
    assert done.status_code == 302
    assert logged.get("/console/members").status_code == 302  # sessions ended with the new password
    assert Console(fresh_client(app)).login(clerk.email, PASSWORD).status_code != 302
    assert Console(fresh_client(app)).login(clerk.email, NEW_PASSWORD).status_code == 302
    assert visitor.get(path).status_code == 404  # used up
    assert page(visitor.get(path)).has("#reset-invalid")


def test_a_newer_link_or_a_deactivation_voids_the_older_one(console, signed_in, make_staff, app, mail_sink):
    clerk = make_staff(["members:read"])
    console.post(f"/console/staff/{clerk.id}/reset-password")
    console.post(f"/console/staff/{clerk.id}/reset-password")
    first, second = [[u for u in m.links if "/password-reset/" in u][0] for m in mail_sink.wait_for(clerk.email, 2)]
    visitor = Console(fresh_client(app))
    assert visitor.get(urlsplit(first).path).status_code == 404
    assert visitor.get(urlsplit(second).path).status_code == 200
    console.post(f"/console/staff/{clerk.id}/deactivate")
    assert visitor.get(urlsplit(second).path).status_code == 404
    assert console.post(f"/console/staff/{clerk.id}/reset-password").status_code == 302  # refused with a message
    assert "Reactivate the user first" in page(console.get("/console/staff")).text("body")
