"""The counted throttles under parallel requests against a live server (real commits), on each backend:
reset mails to one email, signups from one address (portal and public signup form), and referral
share links opened with unknown codes. Of N requests released together, exactly the configured
number gets through (each counts under `throttle.serialize`; without it they all read the same count)."""
from __future__ import annotations


import pytest
import requests
from sqlalchemy import func, select

from portal.domain import outbox, self_service, signup_forms
from portal.domain.members import Member
from portal.domain.outbox import OutboxEvent
from portal.domain.throttle import FailedAttempt
from portal.extensions import db
from tests import factories
from tests.web.page import CSRF_TOKEN

from .live import parallel

pytestmark = pytest.mark.live



@pytest.fixture
def portal_org(live_app, monkeypatch):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Counted")
            member = factories.make_member(session, org)
        db.session.remove()
    monkeypatch.setitem(live_app.config, "PORTAL_ORGANIZATION_ID", org.id)
    return org, member


def browsers(url: str, n: int) -> list[tuple[requests.Session, str]]:
    """n browsers, each with its own session and the form's CSRF token, fetched beforehand."""
    found = []
    for _ in range(n):
        browser = requests.Session()
        found.append((browser, CSRF_TOKEN.search(browser.get(url, timeout=30).text).group(1)))
    return found


def scalar(live_app, stmt):
    with live_app.app_context():
        value = db.session.scalar(stmt)
        db.session.remove()
    return value


def attempts(live_app, scope: str) -> int:
    return scalar(live_app, select(func.count()).select_from(FailedAttempt).where(FailedAttempt.scope == scope))


def members_like(live_app, email_pattern: str) -> int:
    return scalar(live_app, select(func.count()).select_from(Member).where(Member.email.like(email_pattern)))


def test_parallel_reset_requests_mail_one_email_exactly_the_limit(live_app, live_server, portal_org):
    org, member = portal_org
    n = 20
    url = f"{live_server.url}/password/forgot"
    sessions = browsers(url, n)

    def ask(i: int) -> int:
        browser, token = sessions[i]
        return browser.post(url, data={"csrf_token": token, "email": member.email}, timeout=120,
                            allow_redirects=False).status_code

    assert set(parallel(n, ask, threads=n)) == {302}  # the same answer whether or not a mail goes out
    mails = scalar(live_app, select(func.count()).select_from(OutboxEvent)
                   .where(OutboxEvent.event_type == outbox.MAIL_REQUESTED))
    assert mails == self_service.MAIL_LIMIT_PER_EMAIL
    assert attempts(live_app, "member-mail-email") == self_service.MAIL_LIMIT_PER_EMAIL


def test_parallel_signups_from_one_address_stop_exactly_at_the_limit(live_app, live_server, portal_org,
                                                                     monkeypatch):
    monkeypatch.setattr(self_service, "MAIL_LIMIT_PER_ADDRESS", 8)
    n = 24
    url = f"{live_server.url}/signup"
    sessions = browsers(url, n)

    def sign_up(i: int) -> int:
        browser, token = sessions[i]
        data = {"csrf_token": token, "email": f"flood-{i}@example.com", "password": "a long enough passphrase",
                "given_name": "Flo", "family_name": "Od", "accept_terms": "y"}
        return browser.post(url, data=data, timeout=120, allow_redirects=False).status_code

    statuses = parallel(n, sign_up, threads=n)
    assert sorted(statuses) == [302] * 8 + [429] * (n - 8), statuses
    assert members_like(live_app, "flood-%@example.com") == 8


def test_parallel_signup_form_submissions_stop_exactly_at_the_limit(live_app, live_server, portal_org,
                                                                    monkeypatch):
    org, _ = portal_org
    with live_app.app_context():
        with db.transaction() as session:
            form = signup_forms.create_form(session, org.id, actor=org.actor, name="Flood", purpose="loyalty_card",
                                            consents=[{"key": "terms", "text": "Rules", "required": True}])
            public_id = form.public_id
        db.session.remove()
    monkeypatch.setitem(live_app.config, "SIGNUP_FORM_LIMIT_PER_ADDRESS", 6)
    n = 20
    url = f"{live_server.url}/api/v1/signup-forms/{public_id}/submissions"

    def submit(i: int) -> int:
        body = {"profile": {"email": f"form-{i}@example.com"}, "consents": {"terms": True}}
        return requests.post(url, json=body, timeout=120).status_code

    statuses = parallel(n, submit, threads=n)
    assert sorted(statuses) == [202] * 6 + [429] * (n - 6), statuses
    assert members_like(live_app, "form-%@example.com") == 6


def test_parallel_unknown_share_links_are_counted_exactly_to_the_limit(live_app, live_server, portal_org,
                                                                       monkeypatch):
    monkeypatch.setattr(self_service, "JOIN_LIMIT_PER_ADDRESS", 7)
    n = 24

    def open_link(i: int) -> int:
        return requests.get(f"{live_server.url}/join/GUESS{i:04d}", timeout=120).status_code

    assert set(parallel(n, open_link, threads=n)) == {200}  # the same page, whatever the code
    assert attempts(live_app, "member-join-address") == 7
