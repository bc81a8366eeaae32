"""Console sign-in and sign-out: neutral failures, throttling, safe redirects, CSRF."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from portal.console import sign_in_views as views
from portal.domain import staff, throttle
from portal.domain.ledger import LedgerTransaction
from portal.domain.throttle import FailedAttempt
from tests import factories

from .console_helpers import PASSWORD
from .page import page


def failed_attempts(session, scope, key):
    return throttle.failures(session, scope, key, dt.timedelta(hours=1))


def test_login_success_signs_in_and_lands_on_dashboard(console, admin, session):
    response = console.login(admin.email.upper())  # emails are matched case-insensitively
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"
    dashboard = page(console.get("/console/"))
    assert dashboard.text("h1") == "Dashboard"
    assert admin.email in dashboard.text(".topbar")
    session.refresh(admin)
    assert admin.last_login_at is not None


def test_failed_login_reads_the_same_for_unknown_email_and_wrong_password(console, admin):
    wrong_password = console.login(admin.email, "not-the-password-1")
    unknown_email = console.login("nobody@example.com", PASSWORD)
    assert wrong_password.status_code == unknown_email.status_code == 200
    message = page(wrong_password).text(".form-errors")
    assert message == page(unknown_email).text(".form-errors") == views.LOGIN_FAILED
    # Still signed out.
    assert console.get("/console/").status_code == 302


def test_inactive_staff_user_cannot_sign_in(console, make_staff, session):
    user = make_staff(["admin"])
    user.active = False
    session.commit()
    response = console.login(user.email)
    assert page(response).text(".form-errors") == views.LOGIN_FAILED


def test_failed_login_is_recorded_and_committed(console, admin, session):
    console.login(admin.email, "not-the-password-1", address="203.0.113.9")
    # The view committed the failure: rolling back what is open now cannot remove it.
    session.rollback()
    assert failed_attempts(session, staff.LOGIN_SCOPES.account, admin.email) == 1
    assert failed_attempts(session, staff.LOGIN_SCOPES.address, "203.0.113.9") == 1
    # Only a digest of the email is kept.
    stored = session.scalars(select(FailedAttempt.key_hash)).all()
    assert admin.email not in stored


def test_success_clears_the_account_failures(console, admin, session):
    console.login(admin.email, "not-the-password-1")
    assert console.login(admin.email).status_code == 302
    assert failed_attempts(session, staff.LOGIN_SCOPES.account, admin.email) == 0


def test_account_and_address_are_throttled_after_the_limit_even_with_the_right_password(console, admin, monkeypatch,
                                                                                        session):
    monkeypatch.setitem(throttle.LIMITS, "login-account-address", throttle.Limit(3, throttle.HOUR))
    for _ in range(3):
        assert console.login(admin.email, "not-the-password-1").status_code == 200
    refused = console.login(admin.email)
    assert refused.status_code == 429
    assert page(refused).text(".form-errors") == views.LOGIN_THROTTLED
    assert console.get("/console/").status_code == 302
    # Refusals do not count as further failures.
    assert failed_attempts(session, staff.LOGIN_SCOPES.account, admin.email) == 3


def test_unknown_email_is_throttled_like_a_known_one(console, admin, monkeypatch, session):
    monkeypatch.setitem(throttle.LIMITS, "login-account-address", throttle.Limit(2, throttle.HOUR))
    for _ in range(2):
        assert page(console.login("nobody@example.com", "whatever-123")).text(".form-errors") == views.LOGIN_FAILED
        assert page(console.login(admin.email, "not-the-password-1")).text(".form-errors") == views.LOGIN_FAILED
    unknown = console.login("nobody@example.com", "whatever-123")
    known = console.login(admin.email, "not-the-password-1")
    # The same answer for both: the throttle does not tell which emails have an account.
    assert unknown.status_code == known.status_code == 429
    assert page(unknown).text(".form-errors") == page(known).text(".form-errors") == views.LOGIN_THROTTLED
    assert failed_attempts(session, staff.LOGIN_SCOPES.account, "nobody@example.com") == 2  # refusals are not counted
    assert console.get("/console/").status_code == 302


def test_address_is_throttled_across_accounts(console, make_staff, monkeypatch, session):
    monkeypatch.setitem(throttle.LIMITS, "login-address", throttle.Limit(3, throttle.HOUR))
    victim = make_staff(["admin"])
    for n in range(3):
        assert console.login(f"spray{n}@example.com", "guess-123", address="198.51.100.7").status_code == 200
    refused = console.login(victim.email, address="198.51.100.7")
    assert refused.status_code == 429 and page(refused).text(".form-errors") == views.LOGIN_THROTTLED
    assert console.get("/console/").status_code == 302
    assert failed_attempts(session, staff.LOGIN_SCOPES.address, "198.51.100.7") == 3
    # Another address is not affected.
    assert console.login(victim.email, address="198.51.100.8").status_code == 302
    assert victim.email in page(console.get("/console/")).text(".topbar")


def age_failures(session, by: dt.timedelta) -> None:
    for attempt in session.scalars(select(FailedAttempt)):
        attempt.created_at -= by
    session.commit()


def test_old_failures_fall_out_of_the_window(session):
    scope = staff.LOGIN_SCOPES.account
    for _ in range(3):
        throttle.record_failure(session, scope, "old@example.com")
    with pytest.raises(throttle.TooManyAttempts):
        throttle.check(session, scope, "old@example.com", limit=3, window=throttle.HOUR)
    age_failures(session, dt.timedelta(hours=2))
    assert failed_attempts(session, scope, "old@example.com") == 0
    throttle.check(session, scope, "old@example.com", limit=3, window=throttle.HOUR)  # no raise
    throttle.record_failure(session, scope, "old@example.com")
    assert failed_attempts(session, scope, "old@example.com") == 1


@pytest.mark.parametrize("target, expected", [
    ("/console/members?q=anna", "/console/members?q=anna"),
    ("https://evil.example/console/", "/console/"),
    ("//evil.example/", "/console/"),
    ("/\\evil.example", "/console/"),
    ("javascript:alert(1)", "/console/"),
])
def test_login_redirects_only_to_local_paths(console, admin, target, expected):
    response = console.login(admin.email, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_login_required_redirects_to_login_with_next(console):
    response = console.get("/console/members?q=x")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login?next=")
    login_page = page(console.get(response.headers["Location"]))
    assert login_page.one("input[name=next]").get("value") == "/console/members?q=x"


def test_logout_is_a_post_and_signs_out(console, signed_in):
    assert console.get("/console/logout").status_code == 405
    response = console.logout()
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/login"
    assert "You are signed out." in page(console.get("/console/login")).text(".flashes")
    assert console.get("/console/").status_code == 302


def test_post_without_csrf_token_is_refused(client, console, signed_in, org, session):
    member = factories.make_member(session, org)
    session.commit()
    before = session.scalar(select(func.count()).select_from(LedgerTransaction))
    response = client.post(f"/console/members/{member.id}/points",
                           data={"adjust-amount": "50", "adjust-reason": "no token"})
    assert response.status_code == 400
    assert "security token" in page(response).text("main")
    assert session.scalar(select(func.count()).select_from(LedgerTransaction)) == before


def test_login_without_csrf_token_is_refused(client, admin, session):
    response = client.post("/console/login", data={"email": admin.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "security token" in page(response).text("main")
    assert client.get("/console/").status_code == 302
    session.refresh(admin)
    assert admin.last_login_at is None  # nothing was written: no sign-in, no failure counted
    assert failed_attempts(session, staff.LOGIN_SCOPES.account, admin.email) == 0
