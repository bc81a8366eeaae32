"""Staff users and API keys in the domain: nobody hands out a role they do not hold, whichever face asks."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.domain import staff
from portal.domain.actors import Actor
from portal.domain.errors import PermissionDenied


def test_creating_a_user_or_key_with_a_role_the_actor_lacks_is_refused(session, org):
    clerk = Actor(kind="api_key", id=None, organization_id=org.id, roles=frozenset({"users:write", "members:read"}))
    before = (session.scalar(select(func.count()).select_from(staff.StaffUser)),
              session.scalar(select(func.count()).select_from(staff.ApiKey)))
    with pytest.raises(PermissionDenied):
        staff.create_api_key(session, org.id, name="escalate", roles=["admin"], actor=clerk)
    with pytest.raises(PermissionDenied):
        staff.create_staff_user(session, org.id, email="boss@example.com", password="a long enough passphrase 1",
                                roles=["ledgers:write"], actor=clerk)
    assert (session.scalar(select(func.count()).select_from(staff.StaffUser)),
            session.scalar(select(func.count()).select_from(staff.ApiKey))) == before
    key, _ = staff.create_api_key(session, org.id, name="till", roles=["members:read"], actor=clerk)
    assert key.roles == ["members:read"]
