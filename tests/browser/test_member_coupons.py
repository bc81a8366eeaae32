"""Coupons and referrals in a real browser: a friend signs up through a referral
link (/join/<code>), starts with 0 points, claims and activates a coupon with
htmx (no page load), opens its barcode and PDF, sees a refusal, and finds the
coupon in the history once a till has redeemed it; the referrer
finds the friend (masked) and copies the share link; phone-sized and German
screenshots. Mail is read from a real SMTP sink on loopback."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.domain import coupons, members, referrals
from portal.domain.members import Member
from tests.browser.test_member_portal import link_in, member_site  # noqa: F401  (fixture)
from tests.mailsink import smtp_sink  # noqa: F401  (fixture)

REFERRER_PASSWORD = "referrer passphrase 2026"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def seed_offers(seed, bundle):
    """A referral programme with the referrer's code, and three coupon books."""
    referrer = seed.member(bundle, password=REFERRER_PASSWORD, givenName="Rosa", familyName="Referrer",
                           email=f"rosa-{uuid.uuid4().hex[:8]}@example.com")
    with seed.session() as session:
        programme = referrals.create_program(session, bundle.id, actor=bundle.actor, name="Friends",
                                             referrer_points=100, referred_points=50)
        owner = members.get_member(session, bundle.id, referrer.id)
        code = referrals.ensure_code(session, programme, owner, actor=bundle.actor).code
        ten_off = coupons.create_book(
            session, bundle.id, actor=bundle.actor, name="10 % off", type=coupons.DISCOUNT,
            publishing_status=coupons.PUBLISHED, discount_type=coupons.PERCENTAGE, discount_amount=10,
            activatable=True, max_assigned_per_member=1, ranking_index=9,
            i18n={"en": {"title": "10 % off your next order", "subtitle": "On everything in the shop"},
                  "de": {"title": "10 % auf den nächsten Einkauf", "subtitle": "Auf alles im Laden"}})
        coupons.generate_codes(session, ten_off, 5, actor=bundle.actor, prefix="TEN-")
        coupons.create_book(
            session, bundle.id, actor=bundle.actor, name="Free coffee", type=coupons.REWARD,
            publishing_status=coupons.PUBLISHED, usage_required_points=100, ranking_index=5,
            i18n={"en": {"title": "Free coffee", "subtitle": "Any size",
                         "description": "Swap 100 points for a coffee of any size."},
                  "de": {"title": "Gratis Kaffee", "subtitle": "Jede Größe",
                         "description": "Tauschen Sie 100 Punkte gegen einen Kaffee."}})
        coupons.create_book(
            session, bundle.id, actor=bundle.actor, name="Cinema ticket", type=coupons.REWARD,
            publishing_status=coupons.PUBLISHED, assignment_required_points=500, ranking_index=1,
            i18n={"en": {"title": "Cinema ticket"}, "de": {"title": "Kinokarte"}})
    return referrer, code, ten_off


@pytest.mark.browser
def test_a_friend_joins_by_referral_claims_activates_and_shows_a_coupon(
        page, context, live_url, member_site, seed, smtp_sink, screenshot):  # noqa: F811
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    referrer, code, ten_off = seed_offers(seed, member_site)
    email = f"friend-{uuid.uuid4().hex[:8]}@example.com"

    # The share link opens the signup form with the code filled in.
    page.goto(f"{live_url}/join/{code}")
    expect(page.locator(".flashes")).to_contain_text("A friend invited you")
    expect(page.get_by_label("Referral code (optional)")).to_have_value(code)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill("Friendly coffee 4ever")
    page.get_by_label("Given name").fill("Theo")
    page.get_by_label("Family name").fill("Tester")
    page.get_by_label("I accept the terms and conditions of the loyalty programme").check()
    screenshot(page, "member-join")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    [welcome] = smtp_sink.wait_for(email)
    page.goto(link_in(welcome, "/signup/confirm/"))
    page.get_by_role("button", name="Open my wallet").click()
    expect(page).to_have_url(f"{live_url}/wallet")
    expect(page.locator(".tile--main .tile__value")).to_have_text("0")

    # The coupons page: offers with their cost; one the friend cannot afford says why.
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Coupons").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Coupons")
    expect(page.locator("#coupons-panel")).to_contain_text("You have no coupons at the moment.")
    offers = page.locator("#offers-heading ~ ul")
    cinema = offers.locator("li.coupon", has_text="Cinema ticket")
    expect(cinema).to_contain_text("Costs 500 points")
    expect(cinema).to_contain_text("You need 500 points to claim this coupon.")
    expect(cinema.get_by_role("button")).to_have_count(0)
    screenshot(page, "member-coupons-offers")

    # Claim and activate: htmx swaps the panel, the page itself never reloads.
    page.evaluate("window.stillTheSamePage = true")
    offers.locator("li.coupon", has_text="10 % off your next order").get_by_role(
        "button", name=re.compile(r"^Claim")).click()
    expect(page.locator("#coupons-panel .flashes")).to_have_text("Claimed: 10 % off your next order")
    expect(page.locator("#coupons-panel .flashes")).to_be_focused()
    mine = page.locator("#held-heading ~ ul li.coupon")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("1 coupon left")
    expect(mine).to_contain_text("Not activated: activate it before you shop.")
    mine.get_by_role("button", name=re.compile(r"^Activate")).click()
    expect(page.locator("#coupons-panel .flashes")).to_have_text("Activated: 10 % off your next order")
    expect(mine.locator(".coupon__status")).to_have_text("Activated")
    expect(mine.get_by_role("button", name=re.compile(r"^Deactivate"))).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page).to_have_url(f"{live_url}/coupons")
    screenshot(page, "member-coupons")
    page.set_viewport_size(PHONE)
    screenshot(page, "member-coupons-phone")
    page.set_viewport_size(DESKTOP)

    # The coupon for the till: Code128 wide enough to scan, QR, the code, a PDF.
    mine.get_by_role("link", name=re.compile(r"^Show code")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("10 % off your next order")
    barcode = page.get_by_role("img", name=re.compile(r"^Barcode of coupon code TEN-[A-Z0-9]+$"))
    expect(barcode).to_be_visible()
    assert barcode.bounding_box()["width"] >= 250
    expect(page.get_by_role("img", name=re.compile(r"^QR code of coupon code TEN-"))).to_be_visible()
    coupon_code = page.locator("[data-testid=coupon-code]").inner_text()
    assert re.fullmatch(r"TEN-[A-Z0-9]+", coupon_code)
    expect(page.locator("[data-testid=coupon-state]")).to_have_text("Ready to use")
    screenshot(page, "member-coupon")
    page.set_viewport_size(PHONE)
    expect(barcode).to_be_visible()
    assert barcode.bounding_box()["width"] >= 280  # nearly the phone's width: scanners need the bars wide
    screenshot(page, "member-coupon-phone")
    page.set_viewport_size(DESKTOP)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    pdf = download_info.value
    assert pdf.suggested_filename.startswith("coupon-") and pdf.suggested_filename.endswith(".pdf")
    assert open(pdf.path(), "rb").read(5) == b"%PDF-"

    # Deactivating on the coupon's own page swaps just that coupon.
    page.get_by_role("button", name=re.compile(r"^Deactivate")).click()
    expect(page.locator("#coupon-detail .flashes")).to_have_text("Deactivated: 10 % off your next order")
    expect(page.locator(".ticket .coupon__status")).to_have_text("Not activated: activate it before you shop.")

    page.get_by_role("button", name=re.compile(r"^Activate")).click()
    expect(page.locator(".ticket .coupon__status")).to_have_text("Activated")

    # The till redeems it (point-of-sale API); the coupon moves to the history.
    with seed.session() as session:
        friend = session.scalars(select(Member).where(Member.email == email)).one()
        account_coupon_id = coupons.account_coupon_public_id(member_site.id, friend.id, ten_off.id)
    response = page.request.post(
        f"{live_url}/api/v1/organizations/{member_site.id}/account-coupons/{account_coupon_id}/redeem",
        headers={"Authorization": f"Bearer {member_site.api_key}"},
        data={"systemUniqueKey": f"till-{email}", "locationCode": "berlin-1"})
    assert response.status == 201, response.text()
    page.reload()
    expect(page.locator("[data-testid=coupon-state]")).to_have_text("Used")
    expect(page.locator(".ticket")).to_contain_text("This coupon can no longer be used.")
    expect(page.get_by_role("img", name=re.compile(r"^Barcode"))).to_have_count(0)

    # German: texts from the coupon book's own translations.
    page.get_by_role("button", name="Deutsch").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("10 % auf den nächsten Einkauf")
    page.get_by_role("navigation", name="Hauptmenü").get_by_role("link", name="Coupons").click()
    expect(page.locator("#offers-heading")).to_have_text("Coupons zum Holen")
    expect(page.locator("#coupons-panel")).to_contain_text("Sie haben zurzeit keine Coupons.")
    expect(page.locator("#offers-heading ~ ul")).to_contain_text("Gratis Kaffee")
    expect(page.locator("#offers-heading ~ ul")).to_contain_text("Sie brauchen 500 Punkte für diesen Coupon.")
    screenshot(page, "member-coupons-de")
    page.get_by_role("link", name=re.compile(r"^Verlauf")).click()
    expect(page).to_have_url(f"{live_url}/coupons?tab=history")
    used = page.locator(".coupon-history tbody tr")
    expect(used).to_have_count(1)
    expect(used).to_contain_text("10 % auf den nächsten Einkauf")
    expect(used).to_contain_text("Eingelöst")
    screenshot(page, "member-coupons-history-de")
    page.set_viewport_size(PHONE)
    screenshot(page, "member-coupons-history-phone")
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="English").click()

    # The referrer sees the friend, masked, and copies the share link.
    page.get_by_role("button", name="Log out").click()
    page.get_by_label("Email", exact=True).fill(referrer.email)
    page.get_by_label("Password", exact=True).fill(REFERRER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Referrals").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Invite friends")
    expect(page.locator("[data-testid=referral-code]")).to_have_text(code)
    share = page.get_by_label("Your share link")
    expect(share).to_have_value(f"{live_url}/join/{code}")
    friend_row = page.locator("li.friend")
    expect(friend_row).to_have_count(1)
    expect(friend_row).to_contain_text("T*** T.")
    expect(friend_row).to_contain_text("Not counted yet")
    expect(page.locator("body")).not_to_contain_text("Theo")
    expect(page.locator("[data-testid=referral-points]")).to_have_text("0")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_url)
    copy = page.get_by_role("button", name="Copy link")
    expect(copy).to_be_visible()
    copy.click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == f"{live_url}/join/{code}"
    screenshot(page, "member-referrals")
    page.set_viewport_size(PHONE)
    screenshot(page, "member-referrals-phone")
    page.set_viewport_size(DESKTOP)

    assert not problems, problems
