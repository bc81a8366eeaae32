"""A caller changes or revokes only the keys and users whose roles it could grant itself:
a key with users:write cannot revoke an admin's key or deactivate an admin."""
from __future__ import annotations

from sqlalchemy import select

from portal.domain.audit import AuditEntry
from portal.domain.staff import ApiKey, StaffUser
from tests.factories import make_key, make_staff

from .conftest import problem, row_counts

USER_ADMIN = ["users:read", "users:write", "members:read"]


def key_id(session, secret: str) -> int:
    return session.scalars(select(ApiKey.id).where(ApiKey.prefix == secret.split("_")[1])).one()


def test_a_users_write_key_cannot_revoke_an_admins_key(api, session, org):
    limited = api.as_(make_key(session, org, USER_ADMIN))
    admin_key = key_id(session, org.api_key)
    before = row_counts(session)
    problem(limited.post(f"/api-keys/{admin_key}/revoke"), 403, "apiKeyId")
    assert row_counts(session) == before
    session.expire_all()
    assert session.get(ApiKey, admin_key).revoked_at is None
    assert api.get("/members").status_code == 200  # the admin's key still works
    # A key with more roles than the caller's is refused too, even without admin.
    wider = key_id(session, make_key(session, org, ["members:read", "ledgers:write"]))
    session.commit()
    problem(limited.post(f"/api-keys/{wider}/revoke"), 403, "apiKeyId")
    # Within its own roles it may.
    narrow = key_id(session, make_key(session, org, ["members:read"]))
    session.commit()
    r = limited.post(f"/api-keys/{narrow}/revoke")
    assert r.status_code == 200 and r.json["apiKey"]["revokedAt"]


def test_a_users_write_key_cannot_deactivate_an_admin(api, session, org):
    limited = api.as_(make_key(session, org, USER_ADMIN))
    boss = make_staff(session, org, roles=["admin"])
    clerk = make_staff(session, org, roles=["members:read"])
    session.commit()
    before = row_counts(session)
    problem(limited.post(f"/users/{boss.id}/deactivate"), 403, "userId")
    assert row_counts(session) == before
    session.expire_all()
    assert session.get(StaffUser, boss.id).active is True
    r = limited.post(f"/users/{clerk.id}/deactivate")
    assert r.status_code == 200 and r.json["user"]["active"] is False
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "staffuser",
                                                              AuditEntry.target_id.in_([str(boss.id), str(clerk.id)]),
                                                              AuditEntry.action == "staff.deactivated")).all()
    assert actions == ["staff.deactivated"]


def test_another_organisations_user_is_not_found(api, session, other_org):
    stranger = make_staff(session, other_org, roles=["members:read"])
    session.commit()
    problem(api.post(f"/users/{stranger.id}/deactivate"), 404, "userId")
    session.expire_all()
    assert session.get(StaffUser, stranger.id).active is True
