"""The whole partner login in real Chromium: the example partner site (examples/partner_site, authlib's
client) signs a member in through Portal's consent page, shows their name and balance, and the member
disconnects it on /profile, after which the partner site can no longer read their account."""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from portal.domain import partners, passwords

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "partner_site" / "app.py"
PASSWORD = "a long enough passphrase"


def load_example():
    spec = importlib.util.spec_from_file_location("partner_site_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def partner_site(browser_site, live_url, seed, monkeypatch):
    """Portal's organisation with a member holding 120 points, and the example partner site beside it."""
    demo = seed.demo(points_balance=120, givenName="Pia", familyName="Partner")
    with seed.session() as session:
        member = session.merge(demo.member)
        member.password_hash = passwords.hash_password(PASSWORD)
        app, secret = partners.create_app(session, demo.org.id, actor=demo.org.actor, name="Bean & Leaf",
                                          auth_redirect_url="http://127.0.0.1:1/callback",
                                          auth_valid_scopes=["openid", "profile", "wallet:read"])
    monkeypatch.setitem(browser_site.app.config, "PORTAL_ORGANIZATION_ID", demo.org.id)
    monkeypatch.setitem(browser_site.app.config, "PORTAL_BASE_URL", live_url)
    site = load_example().create_app({"PORTAL_URL": live_url, "PARTNER_CLIENT_ID": app.client_id,
                                      "PARTNER_CLIENT_SECRET": secret, "PARTNER_ORGANIZATION_ID": str(demo.org.id),
                                      "SECRET_KEY": "partner-test"})
    server = make_server("127.0.0.1", 0, site, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    site.config["PARTNER_URL"] = url
    with seed.session() as session:
        partners.update_app(session, session.get(partners.PartnerApp, app.id), actor=demo.org.actor,
                            auth_redirect_url=f"{url}/callback")
    thread = threading.Thread(target=server.serve_forever, name="partner-site", daemon=True)
    thread.start()
    yield {"url": url, "member": demo.member, "app": app, "demo": demo}
    server.shutdown()
    thread.join(5)


@pytest.mark.browser
def test_a_member_signs_in_to_the_partner_site_and_disconnects_it(page, live_url, partner_site, screenshot):
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    member = partner_site["member"]

    # The partner site sends the member to Portal; Portal asks them to log in first.
    page.goto(partner_site["url"])
    screenshot(page, "partner-site-signed-out")
    page.get_by_role("link", name="Sign in with your loyalty account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    assert page.url.startswith(f"{live_url}/login?next=")
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # The consent page, in the member portal's look, lists the scopes in plain words.
    expect(page.get_by_role("heading", level=1)).to_have_text("Bean & Leaf would like to use your account")
    assert page.url.startswith(f"{live_url}/oauth/authorize?")
    expect(page.locator("ul.scope-list li")).to_have_text(["Confirm who you are when you sign in",
                                                           "See your name and language",
                                                           "See your points balance and points history"])
    screenshot(page, "partner-consent")
    page.get_by_role("button", name="Allow").click()

    # Back on the partner site: the member's name (from the id_token) and balance (from the API).
    expect(page.locator("#member-name")).to_have_text("Pia Partner")
    expect(page.locator("#balance")).to_have_text("120")
    assert page.url.startswith(partner_site["url"])
    screenshot(page, "partner-site-signed-in")

    # Staff see in the console how many members connected the app.
    staff = page.context.browser.new_context(viewport={"width": 1280, "height": 900})
    console = staff.new_page()
    console.goto(f"{live_url}/console/login")
    console.get_by_label("Email").fill(partner_site["demo"].staff.email)
    console.get_by_label("Password").fill(partner_site["demo"].staff_password)
    console.get_by_role("button", name="Sign in").click()
    console.get_by_role("link", name="Partner apps").click()
    row = console.locator(f'tr[data-app-id="{partner_site["app"].id}"]')
    expect(row.locator('[data-count="connected"]')).to_have_text("1")
    screenshot(console, "partner-console-apps")
    row.get_by_role("link", name="Bean & Leaf").click()
    expect(console.locator("#count-connected")).to_have_text("1")
    screenshot(console, "partner-console-app")
    staff.close()

    # On Portal's profile page the member sees the app and disconnects it.
    page.goto(f"{live_url}/profile")
    connected = page.locator(f'li.connected-app[data-app="{partner_site["app"].public_id}"]')
    expect(connected).to_contain_text("Bean & Leaf")
    expect(connected).to_contain_text("See your points balance and points history")
    connected.scroll_into_view_if_needed()
    screenshot(page, "partner-profile-connected")
    page.get_by_role("button", name="Disconnect Bean & Leaf").click()
    expect(page.locator(".flash--success")).to_contain_text("Bean & Leaf can no longer use your account.")
    expect(page.locator("li.connected-app")).to_have_count(0)
    screenshot(page, "partner-profile-disconnected")

    # The partner site's tokens stopped working at once.
    page.goto(partner_site["url"])
    expect(page.locator("#notice")).to_contain_text("no longer connected")
    expect(page.locator("#balance")).to_have_count(0)
    screenshot(page, "partner-site-disconnected")
    assert not problems, problems
