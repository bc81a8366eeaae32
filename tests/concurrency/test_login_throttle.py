"""Failed sign-ins under parallel requests against a live server (real commits), on each backend.

50 wrong passwords for one account, all released together: exactly the
configured number reach the password check (and are recorded), the rest are
refused with 429 before it.
"""
from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import func, select

from portal.domain import self_service, staff, throttle
from portal.domain.throttle import FailedAttempt
from portal.domain.passwords import hash_password
from portal.extensions import db
from tests import factories

from .live import parallel

pytestmark = pytest.mark.live

ATTEMPTS = 50
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def wrong_passwords(url: str, email: str) -> list[int]:
    """ATTEMPTS wrong passwords for `email` posted to the login form at `url`, all at once; the statuses."""
    browsers = []
    for _ in range(ATTEMPTS):  # each with its own session and CSRF token, fetched beforehand
        browser = requests.Session()
        browsers.append((browser, CSRF.search(browser.get(url, timeout=30).text).group(1)))

    def attempt(i: int) -> int:
        browser, token = browsers[i]
        data = {"csrf_token": token, "email": email, "password": f"wrong-{i}"}
        return browser.post(url, data=data, timeout=120, allow_redirects=False).status_code

    return parallel(ATTEMPTS, attempt, threads=ATTEMPTS)


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

    statuses = wrong_passwords(url, email)

    checked = [s for s in statuses if s != 429]
    assert len(checked) == limit, sorted(statuses)
    assert set(checked) <= {200, 422}
    assert recorded(live_app, scopes.pair) == limit
    assert recorded(live_app, scopes.account) == limit
