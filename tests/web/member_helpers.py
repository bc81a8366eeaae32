"""Member portal test helpers: a client that fills forms with real CSRF tokens,
and committed members who can log in. Imported by tests/web/test_member_*.py."""
from __future__ import annotations


import pytest
from flask import g
from flask.testing import FlaskClient

from portal.domain import passwords
from tests import factories
from tests.mailsink import mail_sink, smtp_sink  # noqa: F401  (fixtures)

from .page import CSRF_TOKEN, page

PASSWORD = "a long enough passphrase"


class FreshClient(FlaskClient):
    """A test client whose every request starts with an empty `flask.g`.

    The `session` fixture keeps one app context pushed for the whole test, and
    the test client's requests reuse it, so `g` would otherwise carry
    flask-login's cached user and Flask-WTF's cached CSRF token from one request
    into the next (a real server starts each request with a fresh `g`).
    """

    def open(self, *args, **kwargs):
        for name in list(vars(g)):
            delattr(g, name)
        return super().open(*args, **kwargs)


class MemberPortal:
    """Drives the member portal through the test client as a person with a browser would."""

    def __init__(self, client, org):
        self.client, self.org = client, org

    def csrf(self, path: str = "/login") -> str:
        response = self.client.get(path)
        match = CSRF_TOKEN.search(response.get_data(as_text=True))
        assert match, f"no csrf token on {path} ({response.status_code})"
        return match.group(1)

    def submit(self, path: str, data: dict, *, token_from: str | None = None, prefix: str = "", **kwargs):
        token = self.csrf(token_from or path)
        field = f"{prefix}-csrf_token" if prefix else "csrf_token"
        fields = {(f"{prefix}-{k}" if prefix else k): v for k, v in data.items()}
        return self.client.post(path, data={field: token, **fields}, **kwargs)

    def signup(self, email: str, password: str = PASSWORD, **extra):
        data = {"email": email, "password": password, "given_name": "Greta", "family_name": "Gruber",
                "accept_terms": "y", **extra}
        return self.submit("/signup", {k: v for k, v in data.items() if v is not None})

    def login(self, email: str, password: str = PASSWORD, address: str | None = None, next: str | None = None):
        data = {"email": email, "password": password}
        if next is not None:
            data["next"] = next
        environ = {"REMOTE_ADDR": address} if address else {}
        return self.submit("/login", data, environ_base=environ)

    def logout(self):
        return self.submit("/logout", {}, token_from="/wallet", prefix="logout")

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def page(self, path: str, **kwargs):
        response = self.client.get(path, **kwargs)
        assert response.status_code == 200, (path, response.status_code, response.location)
        return page(response)


def fresh_client(app) -> FreshClient:
    return FreshClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def portal(session, org, app, monkeypatch):
    """The member portal of `org`, through a test client."""
    monkeypatch.setitem(app.config, "PORTAL_ORGANIZATION_ID", org.id)
    yield MemberPortal(fresh_client(app), org)


@pytest.fixture
def make_member(session, org):
    """make_member(**profile) -> a committed member of `org` who can log in with PASSWORD."""

    def make(bundle=None, password: str = PASSWORD, **profile):
        member = factories.make_member(session, bundle or org, **profile)
        member.password_hash = passwords.hash_password(password)
        session.commit()
        return member

    return make


@pytest.fixture
def member(make_member):
    return make_member(givenName="Mara", familyName="Moos")


@pytest.fixture
def logged_in(portal, member):
    response = portal.login(member.email)
    assert response.status_code == 302 and response.location == "/wallet", response.get_data(as_text=True)
    return member


def field_errors(response_or_page, field_id: str) -> list[str]:
    """Error texts shown inside the .field that holds the input with this id."""
    doc = response_or_page if hasattr(response_or_page, "all") else page(response_or_page)
    texts = []
    for container in doc.all(".field"):
        ids = {el.get("id") for el in container.iter() if el.get("id")}
        if field_id in ids:
            texts += ["".join(el.itertext()).replace("Error:", "").replace("Fehler:", "").strip()
                      for el in container.iter() if (el.get("class") or "") == "error"]
    return texts


def all_errors(response) -> dict[str, list[str]]:
    doc = page(response)
    found = {}
    for container in doc.all(".field--error"):
        control = next((el for el in container.iter() if el.tag.endswith(("input", "select"))), None)
        found[control.get("id")] = field_errors(doc, control.get("id"))
    return found
