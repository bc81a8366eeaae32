"""Failed sign-ins under parallel requests against a live server (real commits), on each backend.

50 wrong passwords for one account, all released together: exactly the
configured number reach the password check (and are recorded), the rest are
refused with 429 before it. The same for the limit per address over all accounts:
16 wrong passwords from one address, each for another account, limit 5.
"""
from __future__ import annotations


import pytest
import requests
from sqlalchemy import func, select

from portal.domain import self_service, staff, throttle
from portal.domain.throttle import FailedAttempt
from portal.domain.passwords import hash_password
from portal.extensions import db
from tests import factories
from tests.web.page import CSRF_TOKEN

from .live import add_failures, parallel

pytestmark = pytest.mark.live

ATTEMPTS = 50
SPRAYED, ADDRESS_LIMIT = 16, 5


def wrong_passwords(url: str, emails: list[str]) -> list[int]:
    """A wrong password for each of `emails` posted to the login form at `url`, all at once; the statuses."""
    browsers = []
    for _ in emails:  # each with its own session and CSRF token, fetched beforehand
        browser = requests.Session()
        browsers.append((browser, CSRF_TOKEN.search(browser.get(url, timeout=30).text).group(1)))

    def attempt(i: int) -> int:
        browser, token = browsers[i]
        data = {"csrf_token": token, "email": emails[i], "password": f"wrong-{i}"}
        return browser.post(url, data=data, timeout=120, allow_redirects=False).status_code

    return parallel(len(emails), attempt, threads=len(emails))


def recorded(live_app, scope: str) -> int:
    with live_app.app_context():
        count = db.session.scalar(select(func.count()).select_from(FailedAttempt).where(FailedAttempt.scope == scope))
        db.session.remove()
    return count


@pytest.mark.parametrize("portal", ["console", "member"])
def test_parallel_wrong_passwords_are_limited_exactly(live_app, live_server, portal):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Throttle")
            if portal == "console":
                email = factories.make_staff(session, org).email
            else:
                member = factories.make_member(session, org)
                member.password_hash = hash_password("correct-horse-9")
                email = member.email
    url, scopes = {"console": (f"{live_server.url}/console/login", staff.LOGIN_SCOPES),
                   "member": (f"{live_server.url}/login", self_service.LOGIN_SCOPES)}[portal]
    limit = throttle.LIMITS["login-account-address"].attempts

    statuses = wrong_passwords(url, [email] * ATTEMPTS)

    checked = [s for s in statuses if s != 429]
    assert len(checked) == limit, sorted(statuses)
    assert set(checked) <= {200, 422}
    assert recorded(live_app, scopes.pair) == limit
    assert recorded(live_app, scopes.account) == limit


@pytest.mark.parametrize("portal", ["console", "member"])
@pytest.mark.parametrize("far_limit", [False, True])
def test_parallel_wrong_passwords_from_one_address_for_many_accounts_are_limited_exactly(
        live_app, live_server, backend, portal, far_limit, monkeypatch):
    # Each attempt holds its own account's lock; only the lock on the address makes its count hold. With a limit
    # far enough for one slot of the address's locks (throttle.lock_and_count), the address starts near it:
    # ADDRESS_LIMIT left.
    engine = live_app.extensions["portal_db"].engine
    limit = ADDRESS_LIMIT
    if far_limit:
        limit = (throttle.SLOTS if backend == "postgresql" else 0) + 10
    monkeypatch.setitem(throttle.LIMITS, "login-address", throttle.Limit(limit, throttle.HOUR))
    with live_app.app_context():
        with db.transaction() as session:
            factories.make_org(session, name="Spraying")
        db.session.remove()
    url, scopes = {"console": (f"{live_server.url}/console/login", staff.LOGIN_SCOPES),
                   "member": (f"{live_server.url}/login", self_service.LOGIN_SCOPES)}[portal]
    add_failures(engine, scopes.address, "127.0.0.1", limit - ADDRESS_LIMIT)  # the live server's client

    statuses = wrong_passwords(url, [f"sprayed-{i}@example.org" for i in range(SPRAYED)])

    checked = [s for s in statuses if s != 429]
    assert len(checked) == ADDRESS_LIMIT, sorted(statuses)
    assert set(checked) <= {200, 422}
    assert recorded(live_app, scopes.address) == limit
    assert recorded(live_app, scopes.account) == ADDRESS_LIMIT
