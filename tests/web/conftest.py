"""Web fixtures: a console client that signs staff in with real CSRF tokens."""
from __future__ import annotations

import re

import pytest

from portal.domain import referrals
from tests import factories

from .page import field_error

PASSWORD = "correct-horse-9"
CSRF_INPUT = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


class Console:
    """Drives /console/ through the test client as a person with a browser would."""

    def __init__(self, client):
        self.client = client
        self.signed_in = False

    def csrf_token(self, path: str = "/console/login") -> str:
        response = self.client.get(path)
        match = CSRF_INPUT.search(response.get_data(as_text=True))
        assert match, f"no csrf_token input on {path} (status {response.status_code})"
        return match.group(1)

    def login(self, email: str, password: str = PASSWORD, next: str | None = None, address: str | None = None):
        data = {"csrf_token": self.csrf_token(), "email": email, "password": password}
        if next is not None:
            data["next"] = next
        environ = {"REMOTE_ADDR": address} if address else {}
        response = self.client.post("/console/login", data=data, environ_base=environ)
        self.signed_in = response.status_code == 302
        return response

    def logout(self):
        self.signed_in = False
        return self.client.post("/console/logout", data={"csrf_token": self.csrf_token("/console/")})

    def post(self, path: str, data: dict | None = None, **kwargs):
        """POST with a valid token taken from a signed-in page."""
        return self.client.post(path, data={"csrf_token": self.csrf_token("/console/"), **(data or {})}, **kwargs)

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)


class ConsoleForm:
    """A console form as the tests fill it in: where a new one is posted, and the usual fields."""

    def __init__(self, new_path: str, **fields):
        self.new_path = new_path
        self.fields = fields

    def data(self, **extra) -> dict:
        """The usual fields with `extra` put over them."""
        return {**self.fields, **extra}

    def submit(self, console: Console, **extra):
        """Create one: post the usual fields and `extra` to the "new" page."""
        return console.post(self.new_path, self.data(**extra))

    def submit_refused(self, console: Console, field: str, message: str, **extra):
        """`submit`, which must come back as the form again (422) with `message` on `field`."""
        response = self.submit(console, **extra)
        assert response.status_code == 422
        assert message in field_error(response, field)
        return response


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
