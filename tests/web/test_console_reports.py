"""Report pages in the console: the hand-worked figures of tests/report_data.py on the page, in the CSV
(equal to the table) and in the PDF (read back with pdftotext); the range picker's errors; roles and isolation;
the dashboard's week against last week."""
from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import subprocess

import pytest
import time_machine

from portal.domain.staff import DEFAULT_ROLES
from tests import report_data as data

from .page import page, text_of

CUSTOM = "preset=custom&start=2026-03-27&end=2026-04-02"


@pytest.fixture
def world(session, org, other_org):
    built = data.build(session, org, other_org)
    session.commit()
    return built


@pytest.fixture
def marketing(sign_in_as):
    return sign_in_as(DEFAULT_ROLES["marketing"])


def numbers(cells: list[str]) -> list[str]:
    return [c.replace(",", "") for c in cells]


def table_rows(html_page) -> list[list[str]]:
    rows = []
    for tr in html_page.all("#report-table tbody tr, #report-table tfoot tr"):
        rows.append(numbers([text_of(cell) for cell in tr if cell.tag.endswith(("th", "td"))]))
    return rows


def test_the_points_report_by_day(console, marketing, world):
    response = console.get(f"/console/reports/points?{CUSTOM}")
    assert response.status_code == 200
    shown = page(response)
    assert shown.text("#report-range") == "27 Mar 2026 – 2 Apr 2026 (Europe/Berlin), per day"
    assert shown.text("#previous-range").startswith("Previous period: 20 Mar 2026 – 26 Mar 2026")
    rows = table_rows(shown)
    assert [row[0] for row in rows] == ["Fri 27 Mar 2026", "Sat 28 Mar 2026", "Sun 29 Mar 2026", "Mon 30 Mar 2026",
                                        "Tue 31 Mar 2026", "Wed 1 Apr 2026", "Thu 2 Apr 2026", "Total"]
    assert [tuple(int(v) for v in row[1:]) for row in rows[:-1]] == data.POINTS_BY_DAY
    assert rows[-1][1:] == [str(v) for v in data.POINTS_TOTALS.values()]
    minted = shown.text('#report-totals [data-key="minted"]')
    assert "110" in minted and "-89 %" in minted and "previous period: 1,000" in minted
    assert len(shown.all("svg.chart")) == 2  # flows, and the level (outstanding)
    assert shown.has("#download-csv") and shown.has("#download-pdf")


def test_weekly_and_monthly(console, marketing, world):
    weekly = table_rows(page(console.get(f"/console/reports/points?{CUSTOM}&interval=week")))
    assert [row[0] for row in weekly] == ["2026-W13 · from 27 Mar", "2026-W14 · from 30 Mar", "Total"]
    assert {row[0][:8]: tuple(int(v) for v in row[1:]) for row in weekly[:-1]} == data.POINTS_BY_WEEK
    monthly = table_rows(page(console.get(f"/console/reports/discounts?{CUSTOM}&interval=month")))
    assert monthly == [["March 2026", "2", "10.00"], ["April 2026", "1", "0.00"], ["Total", "3", "10.00"]]


def test_the_csv_equals_the_table(console, marketing, world):
    for name in ("points", "members", "tiers", "discounts", "events"):
        for interval in ("day", "week"):
            query = f"{CUSTOM}&interval={interval}"
            table = table_rows(page(console.get(f"/console/reports/{name}?{query}")))
            response = console.get(f"/console/reports/{name}.csv?{query}")
            assert response.status_code == 200 and response.mimetype == "text/csv"
            assert f'filename="{name}-2026-03-27-2026-04-02-{interval}.csv"' in response.headers["Content-Disposition"]
            header, *rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
            assert header[0] == "Period" and rows == table, (name, interval)


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) is not installed")
def test_the_pdf_holds_the_range_the_totals_and_the_organisation(console, marketing, world, tmp_path):
    response = console.get(f"/console/reports/points.pdf?{CUSTOM}&interval=week")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    path = tmp_path / "points.pdf"
    path.write_bytes(response.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert world.org.org.name in text and "Points" in text
    assert "27 Mar 2026 – 2 Apr 2026 (Europe/Berlin), per week" in text
    assert "compared with 20 Mar 2026 – 26 Mar 2026" in text
    assert "2026-W13 · from 27 Mar" in text and "2026-W14 · from 30 Mar" in text
    total_line = next(line for line in text.splitlines() if line.strip().startswith("Total"))
    assert total_line.split()[1:] == ["110", "5", "7", "1,105"]


def test_breakdowns_and_other_reports(console, marketing, world):
    missions = page(console.get(f"/console/reports/missions?{CUSTOM}"))
    assert missions.texts("#breakdown-topMembers tbody tr") == ["Anna Adler 2", "Ben Berg 1"]
    tiers = page(console.get(f"/console/reports/tiers?{CUSTOM}"))
    assert tiers.texts("#breakdown-tiers tbody tr") == ["Bronze 0 0 0", "Silver 1 1 0", "Gold 0 1 1"]
    books = page(console.get(f"/console/reports/coupon-books?{CUSTOM}"))
    assert books.texts("#breakdown-couponBooks tbody tr") == ["Five off DISCOUNT 2 2", "Ten percent DISCOUNT 2 1",
                                                               "Free cake REWARD 1 0"]
    for name in ("members", "referrals", "events"):
        assert console.get(f"/console/reports/{name}?{CUSTOM}").status_code == 200


def test_presets_and_the_defaults(console, marketing, world):
    with time_machine.travel(dt.datetime(2026, 4, 2, 10, 0, tzinfo=dt.timezone.utc), tick=False):
        default = page(console.get("/console/reports/points"))
        assert default.text("#report-range") == "4 Mar 2026 – 2 Apr 2026 (Europe/Berlin), per day"
        week = page(console.get("/console/reports/points?preset=7d"))
        assert [row[0] for row in table_rows(week)][0] == "Fri 27 Mar 2026"
        assert table_rows(week)[-1][1:] == [str(v) for v in data.POINTS_TOTALS.values()]
        year = page(console.get("/console/reports/members?preset=year&interval=month"))
        assert [row[0] for row in table_rows(year)] == ["January 2026", "February 2026", "March 2026", "April 2026",
                                                        "Total"]


@pytest.mark.parametrize("query, field, message", [
    ("preset=custom&start=2026-04-02&end=2026-03-27", "end", "must not be before"),
    ("preset=custom&start=2026-04-02", "end", "Enter a day"),
    ("preset=custom&start=2020-01-01&end=2026-01-01&interval=day", "interval", "at most 1000"),
    ("preset=custom&start=nonsense&end=2026-01-01", "start", "Not a valid date"),
    ("preset=forever", "preset", "Not a valid choice"),
    ("interval=hour", "interval", "Not a valid choice"),
])
def test_a_bad_range_is_shown_on_its_field(console, marketing, world, query, field, message):
    for path in ("/console/reports/points", "/console/reports/points.csv", "/console/reports/points.pdf"):
        response = console.get(f"{path}?{query}")
        assert response.status_code == 422 and response.mimetype == "text/html"
        assert message in page(response).text(f"#{field}-error")


def test_roles_and_isolation(console, sign_in_as, world, client):
    sign_in_as(["members:read", "members:write", "ledgers:read", "coupons:read"])
    for path in ("/console/reports/", "/console/reports/points", f"/console/reports/points.csv?{CUSTOM}",
                 f"/console/reports/points.pdf?{CUSTOM}"):
        assert console.get(path).status_code == 403, path
    dashboard = page(console.get("/console/"))
    assert "Reports" not in dashboard.texts("nav.sidenav a") and not dashboard.has("#week-comparison")
    sign_in_as(["reports:read"], bundle=world.other)
    rows = table_rows(page(console.get(f"/console/reports/points?{CUSTOM}")))
    assert rows[-1][1:] == ["10000", "0", "0", "10000"]
    assert console.get("/console/reports/nonsense").status_code == 404


def test_the_dashboard_compares_this_week_with_last_week(console, signed_in, world):
    with time_machine.travel(dt.datetime(2026, 4, 8, 15, 0, tzinfo=dt.timezone.utc), tick=False):
        shown = page(console.get("/console/"))
    assert "Reports" in shown.texts("nav.sidenav a")
    minted = shown.one('#week-comparison [data-key="minted"]')
    assert text_of(minted).startswith("Points minted 0 last week 120")
    burned = text_of(shown.one('#week-comparison [data-key="burned"]'))
    assert "last week 5" in burned and "-100 %" in burned
    sparks = shown.all("#week-comparison svg.sparkline")
    assert len(sparks) == 5
    assert sparks[1].get("aria-label") == "Points minted per day since last Monday: 0, 40, 80, -40, 300, 0, 0, 0, 0, 0"
