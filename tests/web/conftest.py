"""Web fixtures: a console client signed in as staff (see console_helpers.py), and the staff and data its tests share."""
from __future__ import annotations

import pytest

from portal.domain import referrals
from tests import factories

from .console_helpers import PASSWORD, Console


@pytest.fixture
def console(client):
    return Console(client)


@pytest.fixture
def make_staff(session, org):
    """make_staff(roles=[...]) -> a committed staff user of `org` with PASSWORD."""

    def make(roles=("admin",), bundle=None, **kwargs):
        user = factories.make_staff(session, bundle or org, roles=list(roles), password=PASSWORD, **kwargs)
        # Committed (a savepoint release here) so a view's rollback after a domain error cannot undo it.
        session.commit()
        return user

    return make


@pytest.fixture
def sign_in_as(console, make_staff):
    """sign_in_as(roles) -> a new staff user with these roles, the console signed in as them (out of anyone before)."""

    def sign_in(roles, **kwargs):
        if console.signed_in:
            console.logout()
        user = make_staff(roles, **kwargs)
        response = console.login(user.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return sign_in


@pytest.fixture
def admin(make_staff):
    return make_staff(["admin"])


@pytest.fixture
def signed_in(console, admin):
    """The test client signed in as an admin of `org`."""
    response = console.login(admin.email)
    assert response.status_code == 302, response.get_data(as_text=True)
    return admin


@pytest.fixture
def programme(session, org):
    """A committed referral programme of `org`: 100 points to the referrer, 50 to the friend."""
    program = referrals.create_program(session, org.id, actor=org.actor, name="Friends", referrer_points=100,
                                       referred_points=50)
    session.commit()
    return program
