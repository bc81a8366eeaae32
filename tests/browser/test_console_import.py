"""Member import in a real browser: an admin uploads a 1,000-row CSV with 3 bad rows, sees the 3 reported
(and downloads them), confirms, and watches the progress bar fill while a worker runs the batches; the same
pages at phone width."""
from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from portal import worker
from portal.domain.members import Member
from portal.extensions import db

from .conftest import sign_in_to_console

PHONE = {"width": 390, "height": 844}


def member_file(tmp_path) -> tuple[str, list[int]]:
    lines = ["email,givenName,familyName,birthDate,city"]
    lines += [f"browser{i}@example.com,Given{i},Family{i},1985-03-{1 + i % 28:02d},Berlin" for i in range(997)]
    bad = ["not-an-email,Bad,Email,,Berlin",  # line 999
           "browser5@example.com,Twice,In File,,Berlin",  # line 1000: the email of line 7
           "late@example.com,Bad,Date,1985-02-30,Berlin"]  # line 1001
    path = tmp_path / "members-1000.csv"
    path.write_text("\n".join(lines + bad) + "\n", encoding="utf-8")
    return str(path), [999, 1000, 1001]


class Worker:
    """The worker's bulk loop in a thread, in small batches so the progress bar has steps to show."""

    def __init__(self, app):
        self.app, self.stop, self.thread = app, threading.Event(), None

    def __enter__(self):
        def work():
            with self.app.app_context():
                while not self.stop.is_set():
                    if not worker.run_bulk_jobs(seconds=5, batch_size=50):
                        self.stop.wait(0.2)
        self.thread = threading.Thread(target=work, name="bulk-worker", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)


@pytest.mark.browser
def test_admin_imports_a_thousand_rows_sees_three_refused_and_watches_the_progress(
        page, live_url, seed, screenshot, browser_site, tmp_path):
    bundle = seed.org("Import Bakery")
    admin = seed.staff(bundle)
    path, bad_lines = member_file(tmp_path)

    sign_in_to_console(page, live_url, admin.email)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Jobs").click()
    page.get_by_role("link", name="Import members").click()
    page.get_by_label("CSV or Excel file of members").set_input_files(path)
    screenshot(page, "console-import-upload")
    page.get_by_role("button", name="Check the file").click()

    expect(page.locator("#check-summary")).to_have_text(
        "997 of 1,000 rows can be imported; 3 are refused and will be left out.")
    rows = page.locator("#refused-rows tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Not a valid email address")
    expect(rows.nth(1)).to_contain_text("email browser5@example.com is also on line 7")
    expect(rows.nth(2)).to_contain_text("birthDate must be YYYY-MM-DD")
    assert [int(rows.nth(i).get_attribute("data-line")) for i in range(3)] == bad_lines
    screenshot(page, "console-import-checked")

    with page.expect_download() as download:
        page.locator("#refused-csv").click()
    refused = open(download.value.path(), encoding="utf-8").read().strip().splitlines()
    assert refused[0].startswith("line,email") and [line.split(",")[0] for line in refused[1:]] == ["999", "1000", "1001"]

    with Worker(browser_site.app):
        page.get_by_role("button", name="Import 997 members").click()
        bar = page.locator("#job-progress-bar")
        expect(bar).to_be_visible()
        seen = set()
        for _ in range(120):
            value = int(bar.get_attribute("value"))
            if 0 < value < 100 and not any(0 < v < 100 for v in seen):
                screenshot(page, "console-import-running")
            seen.add(value)
            if 100 in seen:
                break
            page.wait_for_timeout(250)
        expect(bar).to_have_attribute("value", "100", timeout=30_000)
    expect(page.locator("#job-progress [data-status]")).to_have_text("Done")
    expect(page.locator("#job-report")).to_have_text("997 members created, 3 rows refused.")
    expect(page.locator("#count-created")).to_have_text("997")
    assert any(0 < value < 100 for value in seen) or len(seen) > 1, seen  # it moved while we watched
    screenshot(page, "console-import-done")

    with db.transaction() as session:
        created = session.scalar(select(func.count()).select_from(Member).where(Member.organization_id == bundle.id))
    db.session.remove()
    assert created == 997

    page.set_viewport_size(PHONE)
    screenshot(page, "console-import-done-phone")
    page.get_by_role("link", name="Jobs").first.click()
    expect(page.locator("#jobs-table tbody tr")).to_have_count(1)
    expect(page.locator("#jobs-table [data-count=created]")).to_have_text("997")
    screenshot(page, "console-jobs-phone")
