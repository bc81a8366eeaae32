"""Reports in a real browser: a marketing user looks at the last 90 days of points, switches to weeks,
downloads the CSV and the PDF, and reads the same report on a phone."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
import time_machine
from playwright.sync_api import expect

from portal.domain import members, points, reports
from portal.domain.ledger import Reason
from portal.domain.organizations import Organization
from portal.domain.staff import DEFAULT_ROLES
from tests import factories

from .conftest import sign_in_to_console

UTC = dt.timezone.utc


def seed_history(seed, bundle) -> dict[str, int]:
    """Purchases over the last 100 days in Europe/Berlin: points minted every few days, a few burned.
    Returns the totals of the last 90 local days."""
    zone = reports.Range.of_days(dt.date(2026, 1, 1), dt.date(2026, 1, 1), timezone="Europe/Berlin").zone
    today = dt.datetime.now(zone).date()
    first = today - dt.timedelta(days=89)
    minted = burned = 0
    with seed.session() as session:
        session.get(Organization, bundle.id).timezone = "Europe/Berlin"
    with seed.session() as session:
        people = [factories.make_member(session, bundle) for _ in range(4)]
        for days_ago in range(100, -1, -3):
            moment = dt.datetime.now(UTC) - dt.timedelta(days=days_ago, hours=2)
            with time_machine.travel(moment, tick=False):
                person = members.get_member(session, bundle.id, people[days_ago % 4].id)
                amount = 20 + days_ago % 7 * 10
                points.mint_to_member(session, person, amount, actor=bundle.actor,
                                      reason=Reason(description="Purchase"))
                spent = 10 if days_ago % 4 == 0 else 0
                if spent:
                    points.burn_from_member(session, person, spent, actor=bundle.actor,
                                            reason=Reason(description="Coffee"))
                session.flush()
            if moment.astimezone(zone).date() >= first:
                minted, burned = minted + amount, burned + spent
    return {"minted": minted, "burned": burned}


@pytest.mark.browser
def test_marketing_reads_the_points_report_and_downloads_it(page, live_url, seed, screenshot, browser):
    bundle = seed.org("Report Roasters")
    user = seed.staff(bundle, roles=DEFAULT_ROLES["marketing"])
    expected = seed_history(seed, bundle)

    sign_in_to_console(page, live_url, user.email)
    expect(page.locator("#week-comparison")).to_be_visible()
    screenshot(page, "console-dashboard-week")

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Reports").click()
    page.get_by_role("link", name="Points", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Points")
    page.get_by_label("Range", exact=True).select_option(label="Last 90 days")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"preset=90d"))
    expect(page.locator("#report-table tbody tr")).to_have_count(90)
    expect(page.locator("#report-range")).to_contain_text("(Europe/Berlin), per day")
    minted = page.locator('#report-totals [data-key="minted"] .stat-value')
    expect(minted).to_have_text(f"{expected['minted']:,}")
    expect(page.locator("svg.chart")).to_have_count(2)
    screenshot(page, "console-report-points-90-days")

    page.get_by_label("Per", exact=True).select_option(label="Week")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"interval=week"))
    weeks = page.locator("#report-table tbody tr")
    expect(weeks.first).to_contain_text("-W")
    assert 13 <= weeks.count() <= 15
    expect(minted).to_have_text(f"{expected['minted']:,}")
    screenshot(page, "console-report-points-weekly")

    with page.expect_download() as got:
        page.locator("#download-csv").click()
    download = got.value
    assert re.fullmatch(r"points-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d-week\.csv", download.suggested_filename)
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert rows[0] == ["Period", "Minted", "Burned", "Expired", "Outstanding"]
    assert rows[-1][:3] == ["Total", str(expected["minted"]), str(expected["burned"])]
    assert len(rows) == weeks.count() + 2

    with page.expect_download() as got:
        page.locator("#download-pdf").click()
    pdf = got.value
    assert pdf.suggested_filename.endswith("-week.pdf")
    assert open(pdf.path(), "rb").read(5) == b"%PDF-"

    # The same report on a phone: the chart scales down, the table scrolls inside its card.
    phone = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2,
                                storage_state=page.context.storage_state())
    small = phone.new_page()
    small.goto(page.url)
    expect(small.locator("#report-table tbody tr").first).to_be_visible()
    chart = small.locator("svg.chart").first.bounding_box()
    assert chart["width"] <= 375 and chart["x"] >= 0
    assert small.evaluate("document.documentElement.scrollWidth") <= 375 + 1  # nothing sticks out sideways
    screenshot(small, "console-report-points-phone")
    small.goto(f"{live_url}/console/")
    screenshot(small, "console-dashboard-week-phone")
    phone.close()
