"""The staff console in a real browser: what a person at the support desk does."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect


def sign_in(page, live_url, demo):
    page.goto(f"{live_url}/console/")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.get_by_label("Email").fill(demo.staff.email)
    page.get_by_label("Password").fill(demo.staff_password)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.browser
def test_staff_finds_a_member_and_corrects_their_points(page, live_url, seed, screenshot):
    demo = seed.demo(points_balance=120, givenName="Greta", familyName="Browserfeld", city="Potsdam")
    other = seed.member(demo.org, givenName="Gustav", familyName="Nebenan")

    page.goto(f"{live_url}/console/login")
    screenshot(page, "console-login")
    sign_in(page, live_url, demo)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("#stat-members")).to_have_text("2")
    expect(page.locator("#stat-circulating")).to_have_text("120")
    screenshot(page, "console-dashboard")

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Members").click()
    expect(page.locator("#members-table tbody tr")).to_have_count(2)
    # Typing searches through htmx: the rows change, the page and its URL stay in step.
    page.get_by_label("Search members").fill("browserfeld")
    expect(page.locator("#members-table tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/console/members\?q=browserfeld$"))
    expect(page.locator("#members-table")).not_to_contain_text(other.family_name)
    expect(page.locator("nav.sidenav")).to_have_count(1)  # the fragment did not bring a second layout
    screenshot(page, "console-members-search")

    page.get_by_role("link", name="Greta Browserfeld").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Greta Browserfeld")
    expect(page.locator("#points-balance")).to_have_text("120")
    expect(page.locator("#history-table tbody tr").first).to_contain_text("Welcome bonus")

    # A reason is required; the error appears on the reason field and nothing changes.
    page.locator("#adjust-amount").fill("-20")
    page.get_by_role("button", name="Record adjustment").click()
    expect(page.locator("#adjust-reason-error")).to_contain_text("reason")
    expect(page.locator("#points-balance")).to_have_text("120")
    expect(page.locator("#adjust-amount")).to_have_value("-20")

    page.locator("#adjust-reason").fill("Refund for a broken coffee machine")
    page.get_by_role("button", name="Record adjustment").click()
    expect(page.locator(".flashes")).to_contain_text("-20 points recorded")
    expect(page.locator("#points-balance")).to_have_text("100")
    latest = page.locator("#history-table tbody tr").first
    expect(latest).to_contain_text("-20")
    expect(latest).to_contain_text("Refund for a broken coffee machine")
    expect(latest).to_contain_text(demo.staff.email)
    screenshot(page, "console-member")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    expect(page.locator(".flashes")).to_contain_text("You are signed out.")
    page.goto(f"{live_url}/console/members")
    expect(page).to_have_url(re.compile(r"/console/login"))


@pytest.mark.browser
def test_wrong_password_reads_neutral_and_mobile_layout_works(page, live_url, seed, screenshot):
    demo = seed.demo(points_balance=40)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_url}/console/login")
    page.get_by_label("Email").fill(demo.staff.email)
    page.get_by_label("Password").fill("not-the-password-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".form-errors")).to_have_text("Email or password is not correct.")
    screenshot(page, "console-login-failed-mobile")

    page.get_by_label("Password").fill(demo.staff_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.goto(f"{live_url}/console/members/{demo.member.id}")
    expect(page.locator("#points-balance")).to_have_text("40")
    # On a phone the navigation is a row above the content, not a column beside it.
    nav, main = page.locator("nav.sidenav").bounding_box(), page.locator("main").bounding_box()
    assert nav["y"] + nav["height"] <= main["y"] + 1
    assert main["width"] > 300
    screenshot(page, "console-member-mobile")


@pytest.mark.browser
def test_admin_creates_an_api_key_and_sees_the_secret_once(page, live_url, seed, screenshot):
    demo = seed.demo(points_balance=0)
    sign_in(page, live_url, demo)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("Till 7")
    page.get_by_label("members:read").check()
    page.get_by_label("ledgers:write").check()
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-secret").input_value()
    assert secret.startswith("pk_")
    expect(page.locator("#keys-table")).to_contain_text("Till 7")
    screenshot(page, "console-api-key-created")
    page.reload()  # sends the POST again: replayed, no second key, no secret
    expect(page.locator(".flashes")).to_contain_text("already sent")
    expect(page.locator("#new-secret")).to_have_count(0)
    expect(page.locator("#keys-table tbody tr", has_text="Till 7")).to_have_count(1)
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke key Till 7").click()
    expect(page.locator(".flashes")).to_contain_text("revoked")
    page.get_by_role("link", name="Staff users").click()
    expect(page.locator("#staff-table")).to_contain_text(demo.staff.email)
    screenshot(page, "console-staff")
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("#audit-table tbody tr").first).to_contain_text("api_key.revoked")
    screenshot(page, "console-audit")
