"""Coupon books in a real browser: a marketer creates a book, publishes it, generates codes and
uploads a CSV; also the tiers and audiences pages."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import fill_and_press, sign_in_to_console


def sign_in(page, live_url, demo):
    sign_in_to_console(page, live_url, demo.staff.email, demo.staff_password)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


@pytest.mark.browser
def test_create_publish_generate_and_upload_codes(page, live_url, seed, screenshot, tmp_path):
    demo = seed.demo(points_balance=0)
    sign_in(page, live_url, demo)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Coupons").click()
    expect(page.get_by_role("heading", name="Coupon books")).to_be_visible()
    page.get_by_role("link", name="New coupon book").click()

    # A discount without its value is refused on the value field, and what was typed stays.
    page.get_by_label("Name (staff only)").fill("Summer drinks 10 %")
    page.get_by_label("Type", exact=True).select_option("DISCOUNT")
    page.get_by_label("Discount type").select_option("percentage")
    page.get_by_label("Title (en)", exact=True).fill("10 % off all drinks")
    page.get_by_label("Title (de)", exact=True).fill("10 % auf alle Getränke")
    page.get_by_role("button", name="Create coupon book").click()
    expect(page.locator("#discount_amount-error")).to_contain_text("positive discountAmount")
    expect(page.get_by_label("Title (de)", exact=True)).to_have_value("10 % auf alle Getränke")
    screenshot(page, "console-coupon-form-errors")

    page.get_by_label("Value", exact=True).fill("10")
    page.get_by_label("Per member").fill("1")
    page.get_by_label("Tags (comma-separated)").fill("summer, drinks")
    page.get_by_role("button", name="Create coupon book").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Summer drinks 10 %")
    expect(page.locator("#book-status")).to_have_text("Draft")

    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator(".flashes")).to_contain_text("is now published")
    expect(page.locator("#book-status")).to_have_text("Published")

    fill_and_press(page, {"How many codes": "20", "Prefix (optional)": "SUN-"}, "Generate codes")
    expect(page.locator(".flashes")).to_contain_text("20 codes generated")
    expect(page.locator("#count-codes")).to_have_text("20")
    expect(page.locator("#count-free")).to_have_text("20")
    rows = page.locator("#codes-table tbody tr")
    expect(rows).to_have_count(20)
    codes = page.locator("#codes-table tbody code").all_inner_texts()
    assert len(set(codes)) == 20 and all(re.fullmatch(r"SUN-[2-9A-HJKMNP-Z]{12}", c) for c in codes)
    screenshot(page, "console-coupon-book")

    # A CSV with two bad rows: the good ones are imported through htmx, the bad ones listed by line.
    csv = tmp_path / "till-codes.csv"
    csv.write_text("code\nTILL-0001\nTILL-0002\nbad code\nTILL-0001\nTILL-0003\n", encoding="utf-8")
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Import codes").click()
    expect(page.locator("#report-added")).to_have_text("3 imported")
    expect(page.locator("#report-refused")).to_have_text("2 refused")
    expect(page.locator("#report-table tbody tr")).to_have_count(2)
    expect(page.locator("#report-table tbody tr").first).to_contain_text("letters, digits")
    expect(page.locator("#count-codes")).to_have_text("23")  # swapped in with the report
    expect(page.locator("nav.sidenav")).to_have_count(1)
    expect(page.get_by_label("CSV file")).to_have_value("")
    screenshot(page, "console-coupon-upload-report")

    page.get_by_label("Show codes").select_option("free")
    expect(page).to_have_url(re.compile(r"codes=free"))
    expect(page.locator("#code-rows .result-count")).to_have_text("23 codes free")

    page.get_by_role("link", name="Coupon books").first.click()
    row = page.locator("#books-table tbody tr", has_text="Summer drinks 10 %")
    expect(row).to_contain_text("Published")
    expect(row.locator("td[data-count=free]")).to_contain_text("23")
    screenshot(page, "console-coupon-list")

    page.get_by_label("Status").select_option("draft")
    expect(page.locator("#book-rows .empty")).to_have_text("No draft coupon books.")
    expect(page).to_have_url(re.compile(r"/console/coupons\?status=draft$"))

    # On a phone the book page stacks its cards and the code table scrolls inside its card.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_url}/console/coupons")
    page.get_by_role("link", name="Summer drinks 10 %").click()
    expect(page.locator("#count-codes")).to_have_text("23")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "console-coupon-book-mobile")


@pytest.mark.browser
def test_tiers_and_audiences_pages(page, live_url, seed, screenshot):
    demo = seed.demo(points_balance=0)
    sign_in(page, live_url, demo)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Tiers").click()
    expect(page.locator("#tiers-table tbody tr")).to_have_count(4)
    fill_and_press(page, {"Name": "Silver", "Tier points to reach it": "900"}, "Create tier")
    expect(page.locator("#name-error")).to_contain_text("already exists")
    fill_and_press(page, {"Name": "Platinum", "Colour": "#5b6b7c"}, "Create tier")
    expect(page.locator(".flashes")).to_contain_text("Tier Platinum created")
    expect(page.locator("#tiers-table tbody tr")).to_have_count(5)
    screenshot(page, "console-tiers")

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Audiences").click()
    page.get_by_role("link", name="New audience").click()
    page.get_by_label("Name").fill("Berliners")
    page.get_by_label("Rule", exact=True).fill('member.city == "Berlin" and\nmember.balance >')
    page.get_by_role("button", name="Create audience").click()
    expect(page.locator("#rule-error")).to_contain_text("line 2, column 17")
    screenshot(page, "console-audience-rule-error")
    page.get_by_label("Rule", exact=True).fill('member.city == "Berlin"')
    page.get_by_role("button", name="Create audience").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Berliners")
    expect(page.locator("#audience-count")).to_have_text("0")
