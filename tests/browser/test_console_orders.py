"""Orders in a real browser: a store user finds a member's order, returns half of it with a reason,
and sees the points taken back on the order and on the member's page; the same pages on a phone."""
from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from portal.domain import campaigns, members, orders
from portal.domain.orders import ItemInput, OrderInput
from portal.domain.staff import DEFAULT_ROLES

from .conftest import fill_and_press, sign_in_to_console


def seed_order(seed, bundle, member) -> int:
    """One euro, one point: a confirmed order of 80.00 earns 80 points."""
    with seed.session() as session:
        campaign = campaigns.create_campaign(session, bundle.id, code="BASE", name="One point per euro",
                                             actor=bundle.actor)
        campaigns.add_action(session, campaign, actor=bundle.actor, rules_text=["order.total > 0"],
                             effects=[{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"}])
        buyer = members.get_member(session, bundle.id, member.id)
        order = orders.record_order(session, buyer, OrderInput(
            external_id="SHOP-1001", status="confirmed", total=Decimal("80.00"), location_code="BER-01",
            items=[ItemInput(sku="BOOTS", quantity=1, unit_price=Decimal("60.00"), product_category_code="shoes"),
                   ItemInput(sku="SOCKS", quantity=2, unit_price=Decimal("10.00"))]), actor=bundle.actor).order
        return order.id


@pytest.mark.browser
def test_store_user_returns_half_an_order_and_sees_the_points_taken_back(page, live_url, seed, screenshot,
                                                                        browser):
    bundle = seed.org("Shoe Shop")
    clerk = seed.staff(bundle, roles=DEFAULT_ROLES["store"])
    buyer = seed.member(bundle, email="berta@example.com", givenName="Berta", familyName="Boot")
    order_id = seed_order(seed, bundle, buyer)

    sign_in_to_console(page, live_url, clerk.email)
    page.get_by_role("link", name="Orders").click()
    fill_and_press(page, {"Member (email or member id)": "berta@example.com"}, "Filter")
    expect(page.locator("#orders-table tbody tr")).to_have_count(1)
    expect(page).to_have_url(f"{live_url}/console/orders?member=berta%40example.com&status=&since=&until=&store=")
    screenshot(page, "console-orders-list")

    page.get_by_role("link", name="SHOP-1001").click()
    expect(page.locator("#order-points")).to_have_text("80")
    expect(page.locator("#order-lines tbody tr")).to_have_count(2)
    expect(page.locator('#order-effects li[data-effect="award_points"]')).to_contain_text("One point per euro")

    # Without a reason nothing happens and the field says why.
    fill_and_press(page, {"Returned so far (cumulative amount)": "40"}, "Return part")
    expect(page.locator("#reason-error")).to_contain_text("Give a reason")
    expect(page.locator("#order-status")).to_have_text("confirmed")

    fill_and_press(page, {"Reason": "Boots returned, half the order", "Returned so far (cumulative amount)": "40"},
                   "Return part")
    expect(page.locator(".flashes")).to_contain_text("40 points taken back")
    expect(page.locator("#order-status")).to_have_text("partially-returned")
    expect(page.locator("#order-points")).to_have_text("40")
    expect(page.locator('#order-transactions tbody tr[data-type="burn"]').first).to_contain_text("-40")
    expect(page.locator("#order-history")).to_contain_text("Boots returned, half the order")
    screenshot(page, "console-order-returned-half")

    page.locator("#order-facts").get_by_role("link", name="Berta Boot").click()
    expect(page.locator("#points-balance")).to_have_text("40")
    expect(page.locator("#member-orders tbody tr")).to_have_count(1)
    expect(page.locator("#member-orders")).to_contain_text("partially-returned")
    screenshot(page, "console-member-with-orders")

    # The order on a phone: nothing sticks out sideways, the action form is usable.
    phone = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2,
                                storage_state=page.context.storage_state())
    small = phone.new_page()
    small.goto(f"{live_url}/console/orders/{order_id}")
    expect(small.locator("#order-points")).to_have_text("40")
    assert small.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    expect(small.get_by_role("button", name="Return all")).to_be_visible()
    screenshot(small, "console-order-phone")
    small.goto(f"{live_url}/console/orders")
    expect(small.locator("#orders-table")).to_be_visible()
    assert small.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    screenshot(small, "console-orders-list-phone")
    phone.close()
