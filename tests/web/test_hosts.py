"""Links in mails use PORTAL_BASE_URL, never the request's Host header; other hosts are refused (TRUSTED_HOSTS)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.domain.members import Member
from portal.domain.self_service import MemberToken

from .page import CSRF_TOKEN
from .member_helpers import PASSWORD, logged_in, make_member, member, portal  # noqa: F401
from .member_helpers import mail_sink, smtp_sink  # noqa: F401

BASE = "https://loyalty.example"


def submit_on(portal, host: str, path: str, data: dict):
    """Fill the form at `path` as a browser that reached the portal under `host` would."""
    base_url = f"http://{host}"
    page = portal.client.get(path, base_url=base_url)
    assert page.status_code == 200, page.status_code
    token = CSRF_TOKEN.search(page.get_data(as_text=True)).group(1)
    return portal.client.post(path, data={"csrf_token": token, **data}, base_url=base_url)


def tokens(session) -> int:
    return session.scalar(select(func.count()).select_from(MemberToken))


@pytest.fixture
def public_base(app, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_BASE_URL", BASE)
    return BASE


@pytest.mark.parametrize("path", ["/password/forgot", "/signup", "/login", "/console/login", "/api/docs"])
def test_a_request_for_an_untrusted_host_is_refused(portal, path):
    response = portal.client.get(path, base_url="http://evil.example")
    assert response.status_code == 400


def test_a_reset_asked_for_under_an_untrusted_host_is_refused_and_sends_nothing(portal, member, mail_sink, session):
    # A valid form and session, as an attacker gets them from the real site, replayed with Host: evil.example.
    token = portal.csrf("/password/forgot")
    cookie = portal.client.get_cookie("session")
    portal.client.set_cookie("session", cookie.value, domain="evil.example")
    before = tokens(session)
    response = portal.client.post("/password/forgot", data={"csrf_token": token, "email": member.email},
                                  base_url="http://evil.example")
    assert response.status_code == 400
    assert mail_sink.to(member.email) == [] and tokens(session) == before


def test_the_reset_link_uses_the_public_base_url_whatever_trusted_host_was_asked(portal, member, mail_sink,
                                                                                public_base):
    response = submit_on(portal, "127.0.0.1", "/password/forgot", {"email": member.email})
    assert response.status_code == 302, response.get_data(as_text=True)
    [message] = mail_sink.wait_for(member.email)
    [link] = [url for url in message.links if "/password/reset/" in url]
    assert link.startswith(f"{BASE}/password/reset/"), link
    assert "127.0.0.1" not in message.text and "127.0.0.1" not in message.html
    # The link works on the portal.
    assert portal.get(link.removeprefix(BASE)).status_code == 200


def test_the_welcome_link_uses_the_public_base_url(portal, mail_sink, public_base, session):
    response = submit_on(portal, "127.0.0.1", "/signup", {
        "email": "hilde@example.com", "password": PASSWORD, "given_name": "Hilde", "family_name": "Huber",
        "accept_terms": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Member).where(Member.email == "hilde@example.com")) == 1
    [message] = mail_sink.wait_for("hilde@example.com")
    [link] = [url for url in message.links if "/signup/confirm/" in url]
    assert link.startswith(f"{BASE}/signup/confirm/"), link


def test_the_mail_to_the_owner_of_a_taken_email_uses_the_public_base_url(portal, member, mail_sink, public_base):
    response = submit_on(portal, "127.0.0.1", "/signup", {
        "email": member.email, "password": PASSWORD, "given_name": "Someone", "family_name": "Else",
        "accept_terms": "y"})
    assert response.status_code == 302
    [message] = mail_sink.wait_for(member.email)
    assert message.links and all(link.startswith(f"{BASE}/") for link in message.links), message.links
