"""The member portal in a real browser: what a shopper does, from signup to
deleting the account. Mail is read from a real SMTP sink on loopback."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal import worker
from portal.domain.members import Member
from portal.extensions import db
from tests.mailsink import smtp_sink  # noqa: F401  (fixture)

NEW_PASSWORD = "a fresh passphrase 2026"


@pytest.fixture
def member_site(browser_site, live_url, seed, smtp_sink, monkeypatch):  # noqa: F811
    """An organisation with tiers whose portal the live site shows, mailing into the sink."""
    bundle = seed.org("Browser Coffee")
    seed.tiers(bundle)
    monkeypatch.setitem(browser_site.app.config, "PORTAL_ORGANIZATION_ID", bundle.id)
    monkeypatch.setitem(browser_site.app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(browser_site.app.config, "MAIL_PORT", smtp_sink.port)
    smtp_sink.clear()

    def worker_round():  # the site's worker: drain the outbox and send what is due
        with browser_site.app.app_context():
            worker.send_mail_now()
            db.session.remove()

    monkeypatch.setattr(smtp_sink, "deliverer", worker_round)
    return bundle


def link_in(message, fragment: str) -> str:
    [link] = [url for url in message.links if fragment in url]
    return link


@pytest.mark.browser
def test_a_member_signs_up_earns_shows_the_card_resets_the_password_and_leaves(
        page, live_url, member_site, seed, smtp_sink, screenshot):  # noqa: F811
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"

    # Sign up.
    page.goto(f"{live_url}/")
    screenshot(page, "member-home")
    page.get_by_role("link", name="Join now").click()
    page.get_by_role("button", name="Create my account").click()  # empty: errors on the fields
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator("#email-error")).to_contain_text("This field is required")
    expect(page.locator("#accept_terms-error")).to_contain_text("Please accept the terms")
    screenshot(page, "member-signup-errors")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill("Morning coffee 4ever")
    page.get_by_label("Given name").fill("Tilda")
    page.get_by_label("Family name").fill("Tester")
    page.get_by_label("Birth date (optional)").fill("1991-03-14")
    page.get_by_label("I accept the terms and conditions of the loyalty programme").check()
    page.get_by_label("Send me offers by email").check()
    screenshot(page, "member-signup")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    screenshot(page, "member-signup-sent")

    # The welcome mail's link opens the wallet: 0 points.
    [welcome] = smtp_sink.wait_for(email)
    page.goto(link_in(welcome, "/signup/confirm/"))
    page.get_by_role("button", name="Open my wallet").click()
    expect(page).to_have_url(f"{live_url}/wallet")
    expect(page.locator(".tile--main .tile__value")).to_have_text("0")
    expect(page.locator("#history-results")).to_contain_text("No movements yet.")
    screenshot(page, "member-wallet-empty")

    # Points minted through the API appear after a reload.
    with seed.session() as session:
        loyalty_member_id = session.scalar(select(Member.loyalty_member_id).where(Member.email == email))
    for n, (amount, text) in enumerate(((150, "Breakfast for two"), (40, "Coffee beans"))):
        response = page.request.post(
            f"{live_url}/api/v1/organizations/{member_site.id}/loyalty-members/{loyalty_member_id}/mint",
            headers={"Authorization": f"Bearer {member_site.api_key}"},
            data={"amount": amount, "description": text, "systemUniqueKey": f"browser-mint-{email}-{n}"})
        assert response.status == 201, response.text()
    page.reload()
    expect(page.locator(".tile--main .tile__value")).to_have_text("190")
    expect(page.locator("#history-results tbody tr").first).to_contain_text("Coffee beans")
    expect(page.locator("#history-results tbody tr").first).to_contain_text("190")
    # Filtering swaps only the history (htmx) and keeps the URL in step.
    page.get_by_label("Type").select_option("burn")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/wallet\?.*type=burn"))
    expect(page.locator("#history-results")).to_contain_text("0 movements")
    expect(page.locator(".tile--main .tile__value")).to_have_text("190")
    page.get_by_label("Type").select_option("")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#history-results tbody tr")).to_have_count(2)
    screenshot(page, "member-wallet")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "member-wallet-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The card: a barcode big enough to scan, the code, and a PDF.
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Card").click()
    barcode = page.get_by_role("img", name=re.compile(r"^Barcode of card number [A-Z0-9]{10}$"))
    expect(barcode).to_be_visible()
    assert barcode.bounding_box()["width"] >= 250
    expect(page.get_by_role("img", name=re.compile(r"^QR code of card number"))).to_be_visible()
    code = page.locator("[data-testid=card-code]").inner_text()
    expect(page.locator(".member-card__name")).to_have_text("Tilda Tester")
    expect(page.locator(".member-card__tier")).to_have_text("Bronze")
    screenshot(page, "member-card")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    pdf = download_info.value
    assert pdf.suggested_filename == f"card-{code}.pdf"
    assert open(pdf.path(), "rb").read(5) == b"%PDF-"

    # Switch to German: the choice sticks to the member.
    page.get_by_role("button", name="Deutsch").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihre Karte")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    screenshot(page, "member-card-de")
    page.get_by_role("navigation", name="Hauptmenü").get_by_role("link", name="Profil").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Profil")
    screenshot(page, "member-profile-de")

    # Log out, forget the password, reset it from the mail (now in German).
    page.get_by_role("button", name="Abmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
    page.get_by_role("link", name="Passwort vergessen?").click()
    page.get_by_label("E-Mail", exact=True).fill(email.upper())
    page.get_by_role("button", name="Link senden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sehen Sie in Ihr Postfach")
    reset = smtp_sink.wait_for(email, count=2)[-1]
    assert reset.subject == "Passwort zurücksetzen"
    page.goto(link_in(reset, "/password/reset/"))
    page.get_by_label("Neues Passwort", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Neues Passwort wiederholen").fill(NEW_PASSWORD)
    screenshot(page, "member-password-reset")
    page.get_by_role("button", name="Neues Passwort speichern").click()
    expect(page).to_have_url(f"{live_url}/wallet")
    expect(page.locator(".flashes")).to_contain_text("Ihr Passwort wurde geändert.")
    expect(page.locator(".tile--main .tile__value")).to_have_text("190")

    # Delete the account: logged out, and the old login no longer works.
    page.get_by_role("navigation", name="Hauptmenü").get_by_role("link", name="Profil").click()
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your profile")
    page.locator("#del-password").fill(NEW_PASSWORD)
    page.get_by_label("I understand that my account, my points and my card cannot be restored").check()
    screenshot(page, "member-profile-delete")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator(".flashes")).to_contain_text("Your account was deleted")
    screenshot(page, "member-deleted")
    page.goto(f"{live_url}/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".error-summary")).to_contain_text("Email or password is not correct")
    with seed.session() as session:
        erased = session.scalars(select(Member).where(Member.loyalty_member_id == loyalty_member_id)).one()
        assert erased.erased_at is not None and erased.email is None and erased.given_name == ""

    # Forms answered with errors come back as 422 on purpose; anything else is a problem.
    assert not [p for p in problems if "status of 422" not in p], problems
