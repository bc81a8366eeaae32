"""Sessions end on the server, and every login starts a new one.

A session cookie copied before logout, a password change or reset, a
deactivation or an erasure stops working afterwards (RELIABILITY: Sessions and
links). The staff login, like the member login, starts from an empty session
with a new CSRF token.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.domain.members import Member
from portal.domain.staff import StaffUser

from .page import CSRF_TOKEN
from .console_helpers import PASSWORD as STAFF_PASSWORD, Console
from .member_helpers import (PASSWORD, fresh_client, logged_in, mail_sink, make_member, member,  # noqa: F401
                             portal, smtp_sink)


def copied_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.value
    return cookie.value


def browser_with(app, cookie: str):
    """Another browser holding a copy of the cookie."""
    other = fresh_client(app)
    other.set_cookie("session", cookie, domain="localhost")
    return other


def wallet_status(app, cookie: str):
    response = browser_with(app, cookie).get("/wallet")
    return response.status_code, response.location


def console_status(app, cookie: str):
    response = browser_with(app, cookie).get("/console/staff")
    return response.status_code, (response.location or "").split("?")[0]


SIGNED_OUT_OF_WALLET = (302, "/login?next=/wallet")
SIGNED_OUT_OF_CONSOLE = (302, "/console/login")


# --- members -----------------------------------------------------------------------------------

def test_a_member_cookie_copied_before_logout_does_not_work_after_it(app, portal, logged_in):
    cookie = copied_cookie(portal.client)
    assert wallet_status(app, cookie) == (200, None)  # the copy works while the session lives
    assert portal.logout().status_code == 302
    assert wallet_status(app, cookie) == SIGNED_OUT_OF_WALLET


def test_logout_ends_the_members_sessions_in_other_browsers_too(app, portal, logged_in):
    elsewhere = fresh_client(app)
    other = type(portal)(elsewhere, portal.org)
    assert other.login(logged_in.email).status_code == 302
    portal.logout()
    assert other.get("/wallet").status_code == 302


def test_a_password_change_ends_the_other_sessions_but_not_this_one(app, portal, logged_in, session):
    cookie = copied_cookie(portal.client)
    response = portal.submit("/profile/password", {"current_password": PASSWORD, "new_password": "brand new passphrase",
                                                   "confirm": "brand new passphrase"}, token_from="/profile", prefix="pw")
    assert response.status_code == 302 and response.location == "/profile"
    assert portal.get("/wallet").status_code == 200
    assert wallet_status(app, cookie) == SIGNED_OUT_OF_WALLET


def test_a_password_reset_ends_every_older_session(app, portal, member, mail_sink):
    # A browser still signed in (someone else's, perhaps), and the owner resetting from another one.
    holder = type(portal)(fresh_client(app), portal.org)
    assert holder.login(member.email).status_code == 302
    cookie = copied_cookie(holder.client)
    resetter = portal
    assert resetter.submit("/password/forgot", {"email": member.email}).status_code == 302
    [message] = mail_sink.wait_for(member.email)
    [link] = [url for url in message.links if "/password/reset/" in url]
    path = link.split("localhost", 1)[1]
    done = resetter.submit(path, {"password": "brand new passphrase", "confirm": "brand new passphrase"})
    assert done.status_code == 302 and done.location == "/wallet"
    assert wallet_status(app, cookie) == SIGNED_OUT_OF_WALLET


def test_erasure_ends_every_session(app, portal, logged_in, session):
    holder = type(portal)(fresh_client(app), portal.org)
    assert holder.login(logged_in.email).status_code == 302
    cookie = copied_cookie(holder.client)
    response = portal.submit("/profile/delete", {"password": PASSWORD, "confirm": "y"}, token_from="/profile",
                             prefix="del")
    assert response.status_code == 302
    assert wallet_status(app, cookie) == SIGNED_OUT_OF_WALLET
    session.expire_all()
    assert session.get(Member, logged_in.id).erased_at is not None


def test_a_logout_does_not_touch_the_members_data(portal, logged_in, session):
    before = session.scalars(select(Member.updated_at).where(Member.id == logged_in.id)).one()
    portal.logout()
    session.expire_all()
    row = session.get(Member, logged_in.id)
    assert row.updated_at == before and row.session_version == 1


# --- staff ---------------------------------------------------------------------------------------

@pytest.fixture
def staff_browser(app):
    """A console in its own fresh browser (no state shared with other clients)."""
    return lambda: Console(fresh_client(app))


def test_a_staff_cookie_copied_before_logout_does_not_work_after_it(app, staff_browser, admin):
    console = staff_browser()
    assert console.login(admin.email).status_code == 302
    cookie = copied_cookie(console.client)
    assert console_status(app, cookie)[0] == 200
    assert console.logout().status_code == 302
    assert console_status(app, cookie) == SIGNED_OUT_OF_CONSOLE


def test_deactivating_a_staff_user_ends_their_sessions(app, staff_browser, admin, make_staff, session):
    clerk = make_staff(["users:read"])
    theirs = staff_browser()
    assert theirs.login(clerk.email).status_code == 302
    cookie = copied_cookie(theirs.client)
    assert console_status(app, cookie)[0] == 200
    mine = staff_browser()
    mine.login(admin.email)
    response = mine.post(f"/console/staff/{clerk.id}/deactivate")
    assert response.status_code == 302, response.status_code
    assert console_status(app, cookie) == SIGNED_OUT_OF_CONSOLE
    session.expire_all()
    assert session.get(StaffUser, clerk.id).active is False
    assert theirs.login(clerk.email).status_code == 200  # and cannot sign in again


def test_deactivating_through_the_api_ends_the_sessions(app, staff_browser, make_staff, api):
    clerk = make_staff(["members:read"])
    theirs = staff_browser()
    assert theirs.login(clerk.email).status_code == 302
    cookie = copied_cookie(theirs.client)
    response = api.post(f"/users/{clerk.id}/deactivate")
    assert response.status_code == 200 and response.json["user"]["active"] is False
    assert console_status(app, cookie) == SIGNED_OUT_OF_CONSOLE


def test_a_new_staff_password_ends_the_sessions(app, staff_browser, admin, session):
    console = staff_browser()
    assert console.login(admin.email).status_code == 302
    cookie = copied_cookie(console.client)
    result = app.test_cli_runner().invoke(args=["staff", "set-password", "--email", admin.email],
                                          input="another-horse-7\nanother-horse-7\n")
    assert result.exit_code == 0, result.output
    assert console_status(app, cookie) == SIGNED_OUT_OF_CONSOLE
    assert staff_browser().login(admin.email, "another-horse-7").status_code == 302


# --- every login starts a new session -----------------------------------------------------------

def log_in_to_a_new_session(client, url: str, token: str, email: str, password: str) -> str:
    """Log in through the form at `url` with its CSRF `token`; checks that the session cookie changed, and returns
    the one from before the login."""
    cookie_before = copied_cookie(client)
    response = client.post(url, data={"csrf_token": token, "email": email, "password": password})
    assert response.status_code == 302
    assert copied_cookie(client) != cookie_before
    return cookie_before


def test_the_staff_login_rotates_the_session_and_its_csrf_token(app, staff_browser, admin, session):
    console = staff_browser()
    login_page = console.client.get("/console/login")
    token_before = CSRF_TOKEN.search(login_page.get_data(as_text=True)).group(1)
    cookie_before = log_in_to_a_new_session(console.client, "/console/login", token_before, admin.email, STAFF_PASSWORD)
    # The token from before the login is refused: signing out with it fails, and the user stays signed in.
    refused = console.client.post("/console/logout", data={"csrf_token": token_before})
    assert refused.status_code == 400
    assert console.client.get("/console/staff").status_code == 200
    assert console.csrf_token("/console/") != token_before
    # The cookie from before the login signs nobody in.
    assert console_status(app, cookie_before) == SIGNED_OUT_OF_CONSOLE


def test_the_member_login_rotates_the_session_and_its_csrf_token(app, portal, member):
    token_before = portal.csrf("/login")
    cookie_before = log_in_to_a_new_session(portal.client, "/login", token_before, member.email, PASSWORD)
    refused = portal.client.post("/logout", data={"logout-csrf_token": token_before})
    assert refused.status_code == 400
    assert portal.get("/wallet").status_code == 200
    assert wallet_status(app, cookie_before) == SIGNED_OUT_OF_WALLET
