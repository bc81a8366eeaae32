"""The console lets a staff user revoke or deactivate only keys and users whose roles they hold."""
from __future__ import annotations

from portal.domain import staff
from portal.domain.staff import ApiKey, StaffUser

from .page import page


def test_a_user_admin_cannot_revoke_an_admins_key_in_the_console(console, make_staff, session, org):
    user_admin = make_staff(["users:read", "users:write", "members:read"])
    admin_key, _ = staff.create_api_key(session, org.id, name="boss key", roles=["admin"], actor=org.actor)
    narrow_key, _ = staff.create_api_key(session, org.id, name="till key", roles=["members:read"], actor=org.actor)
    session.commit()
    console.login(user_admin.email)
    listing = page(console.get("/console/api-keys"))
    assert not listing.has(f'form[action="/console/api-keys/{admin_key.id}/revoke"]')
    assert listing.has(f'form[action="/console/api-keys/{narrow_key.id}/revoke"]')
    assert console.post(f"/console/api-keys/{admin_key.id}/revoke").status_code == 403
    session.expire_all()
    assert session.get(ApiKey, admin_key.id).revoked_at is None
    assert console.post(f"/console/api-keys/{narrow_key.id}/revoke").status_code == 302
    session.expire_all()
    assert session.get(ApiKey, narrow_key.id).revoked_at is not None


def test_a_user_admin_cannot_deactivate_an_admin_or_themselves(console, make_staff, session):
    user_admin = make_staff(["users:read", "users:write", "members:read"])
    boss = make_staff(["admin"])
    clerk = make_staff(["members:read"])
    console.login(user_admin.email)
    listing = page(console.get("/console/staff"))
    assert not listing.has(f'form[action="/console/staff/{boss.id}/deactivate"]')
    assert not listing.has(f'form[action="/console/staff/{user_admin.id}/deactivate"]')
    assert listing.has(f'form[action="/console/staff/{clerk.id}/deactivate"]')
    assert console.post(f"/console/staff/{boss.id}/deactivate").status_code == 403
    assert console.post(f"/console/staff/{user_admin.id}/deactivate").status_code == 403
    session.expire_all()
    assert session.get(StaffUser, boss.id).active and session.get(StaffUser, user_admin.id).active
    assert console.post(f"/console/staff/{clerk.id}/deactivate").status_code == 302
    session.expire_all()
    assert not session.get(StaffUser, clerk.id).active


def test_a_reader_cannot_deactivate(console, make_staff, session):
    reader = make_staff(["users:read"])
    clerk = make_staff(["members:read"])
    console.login(reader.email)
    assert not page(console.get("/console/staff")).has("form[action$='/deactivate']")
    assert console.post(f"/console/staff/{clerk.id}/deactivate").status_code == 403
    session.expire_all()
    assert session.get(StaffUser, clerk.id).active
