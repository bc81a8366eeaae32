"""Reports against figures worked out by hand (tests/report_data.py): local days across a clock change and a
month boundary, weeks and months, levels worked back from the wallets, other organisations left out."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import func, select

from portal.domain import ledger, members, orders, reports
from portal.domain.errors import NotFound, ValidationFailed
from portal.domain.outbox import OutboxEvent
from portal.domain.reports import Range
from tests import factories
from tests import report_data as data

UTC = dt.timezone.utc


@pytest.fixture
def world(session, org, other_org):
    return data.build(session, org, other_org)


def days(interval=reports.DAY, timezone=data.TIMEZONE):
    return Range.of_days(data.FIRST, data.LAST, interval, timezone)


def column(report, key):
    return [row.values[key] for row in report.rows]


def by_label(report, *keys):
    return {row.bucket.label: tuple(row.values[k] for k in keys) for row in report.rows}


def test_points_by_local_day_across_the_clock_change_and_the_month_end(session, world):
    report = reports.build_report(session, world.org.id, "points", days())
    assert [row.bucket.start for row in report.rows] == data.DAYS
    assert list(zip(column(report, "minted"), column(report, "burned"), column(report, "expired"),
                    column(report, "outstanding"))) == data.POINTS_BY_DAY
    assert report.totals == data.POINTS_TOTALS
    # The level is worked back from the wallets: today's balances minus what happened after the range.
    assert ledger.totals(session, world.org.points_account_id)["memberBalances"] == data.OUTSTANDING_NOW
    assert report.totals["outstanding"] == data.OUTSTANDING_NOW - 300


@pytest.mark.parametrize("name", ["points", "members"])
def test_a_report_plans_each_statement_for_its_own_values_on_postgresql(session, world, backend, name):
    # Reads end with COMMIT, so statements stay prepared; a generic plan for a year's range took 21 s, not 1 s.
    if backend != "postgresql":
        pytest.skip("PostgreSQL's plan cache and JIT")
    reports.build_report(session, world.org.id, name, days())
    settings = session.execute(select(func.current_setting("plan_cache_mode"), func.current_setting("jit"))).one()
    assert tuple(settings) == ("force_custom_plan", "off")


def test_points_by_week_and_month(session, world):
    weekly = reports.build_report(session, world.org.id, "points", days(reports.WEEK))
    assert by_label(weekly, "minted", "burned", "expired", "outstanding") == data.POINTS_BY_WEEK
    monthly = reports.build_report(session, world.org.id, "points", days(reports.MONTH))
    assert by_label(monthly, "minted", "burned", "expired", "outstanding") == data.POINTS_BY_MONTH
    assert monthly.totals == weekly.totals == data.POINTS_TOTALS


def test_the_timezone_decides_the_day(session, world):
    utc = reports.build_report(session, world.org.id, "points", days(reports.MONTH, "UTC"))
    assert by_label(utc, "minted", "burned", "expired") == data.POINTS_BY_MONTH_UTC


def test_members(session, world):
    report = reports.build_report(session, world.org.id, "members", days())
    assert column(report, "signups") == data.SIGNUPS_BY_DAY
    assert column(report, "members") == data.MEMBERS_BY_DAY
    assert report.totals == {"signups": 2, "members": 3}
    monthly = reports.build_report(session, world.org.id, "members", days(reports.MONTH))
    assert by_label(monthly, "signups", "members") == {"2026-03": (1, 2), "2026-04": (1, 3)}


def test_coupon_books_and_discounts(session, world):
    report = reports.build_report(session, world.org.id, "coupon-books", days())
    assert column(report, "assigned") == data.ASSIGNED_BY_DAY
    assert column(report, "used") == data.USED_BY_DAY
    assert {row["name"]: (row["assigned"], row["used"]) for row in report.tables[0].rows} == data.PER_BOOK
    discounts = reports.build_report(session, world.org.id, "discounts", days(reports.MONTH))
    assert by_label(discounts, "used", "amount") == data.DISCOUNTS_BY_MONTH
    assert discounts.totals == {"used": 3, "amount": Decimal("10.00")}
    per_book = {row["name"]: (row["used"], row["amount"], row["discount"]) for row in discounts.tables[0].rows}
    assert per_book == {"Five off": (2, Decimal("10.00"), "5.00 off"), "Ten percent": (1, None, "10 %")}


def test_missions(session, world):
    report = reports.build_report(session, world.org.id, "missions", days())
    assert column(report, "completions") == data.COMPLETIONS_BY_DAY
    per_mission, top = report.tables
    assert [(row["name"], row["completions"]) for row in per_mission.rows] == [("Write a review", 3)]
    assert [(row["name"], row["completions"]) for row in top.rows] == [("Anna Adler", 2), ("Ben Berg", 1)]


def test_tiers_are_levels_worked_back_from_today(session, world):
    report = reports.build_report(session, world.org.id, "tiers", days())
    keys = [c.key for c in report.columns]
    assert [c.label for c in report.columns] == ["Bronze", "Silver", "Gold"]
    assert [tuple(row.values[k] for k in keys) for row in report.rows] == data.TIERS_BY_DAY
    assert [(r["name"], r["atStart"], r["atEnd"], r["change"]) for r in report.tables[0].rows] == [
        ("Bronze", 0, 0, 0), ("Silver", 1, 1, 0), ("Gold", 0, 1, 1)]


def test_referrals(session, world):
    report = reports.build_report(session, world.org.id, "referrals", days())
    assert column(report, "made") == data.REFERRALS_MADE_BY_DAY
    assert column(report, "completed") == data.REFERRALS_COMPLETED_BY_DAY
    assert [(r["name"], r["made"], r["completed"]) for r in report.tables[0].rows] == [("Anna Adler", 2, 1)]


def test_events_by_type_against_a_count_in_python(session, world):
    report = reports.build_report(session, world.org.id, "events", days())
    per_type = {row["eventType"]: row["count"] for row in report.tables[0].rows}
    for event_type, count in data.EVENT_COUNTS.items():
        assert per_type[event_type] == count, event_type
    rng = days()
    rows = session.scalars(select(OutboxEvent).where(OutboxEvent.organization_id == world.org.id)).all()
    inside = [e for e in rows if rng.since <= e.created_at < rng.until]
    assert report.totals["events"] == len(inside) == sum(per_type.values())
    assert sum(column(report, "events")) == len(inside)


def test_another_organisation_sees_only_its_own(session, world):
    theirs = reports.build_report(session, world.other.id, "points", days())
    assert theirs.totals == {"minted": 10_000, "burned": 0, "expired": 0, "outstanding": 10_000}
    assert reports.build_report(session, world.other.id, "members", days()).totals == {"signups": 2, "members": 2}
    assert reports.build_report(session, world.other.id, "missions", days()).totals == {"completions": 6}
    discounts = reports.build_report(session, world.other.id, "discounts", days())
    assert discounts.totals == {"used": 2, "amount": Decimal("100.00")}


def test_comparison_with_the_previous_period(session, world):
    report = reports.build_report(session, world.org.id, "points", days(), compare=True)
    previous = report.previous
    # The seven local days before, 20 to 26 March: Anna's 1000 points of 26 March 23:50.
    assert (previous.range.first_day, previous.range.last_day) == (dt.date(2026, 3, 20), dt.date(2026, 3, 26))
    assert previous.totals == {"minted": 1000, "burned": 0, "expired": 0, "outstanding": 1007}
    assert report.change("minted") == pytest.approx(-89.0)
    assert report.change("burned") is None


def test_new_york_falls_back(session, org):
    # Clocks go back on 1 November 2026 at 06:00 UTC (EDT -4 to EST -5).
    org.org.timezone = "America/New_York"
    for moment in (dt.datetime(2026, 11, 1, 4, 30, tzinfo=UTC),    # 00:30 EDT, 1 November
                   dt.datetime(2026, 11, 2, 4, 30, tzinfo=UTC),    # 23:30 EST, 1 November
                   dt.datetime(2026, 10, 31, 3, 59, tzinfo=UTC)):  # 23:59 EDT, 30 October
        with time_machine.travel(moment, tick=False):
            factories.make_member(session, org)
            session.flush()
    rng = Range.of_days(dt.date(2026, 10, 30), dt.date(2026, 11, 2), reports.DAY, "America/New_York")
    report = reports.build_report(session, org.id, "members", rng)
    assert column(report, "signups") == [1, 0, 2, 0]
    assert by_label(reports.build_report(session, org.id, "members", rng.with_interval(reports.MONTH)),
                    "signups") == {"2026-10": (1,), "2026-11": (2,)}


def test_a_range_that_does_not_start_at_midnight_has_partial_buckets(session, world):
    rng = Range(data.MAR29, data.APR2, reports.DAY, data.TIMEZONE)
    report = reports.build_report(session, world.org.id, "points", rng)
    assert report.rows[0].bucket.since == data.MAR29 and report.rows[-1].bucket.until == data.APR2
    assert report.totals["minted"] == 20 + 40 + 80
    assert report.totals["outstanding"] == 1145


@pytest.mark.parametrize("since, until, interval, field", [
    (dt.datetime(2026, 4, 2, tzinfo=UTC), dt.datetime(2026, 4, 1, tzinfo=UTC), "day", "sinceFrom"),
    (dt.datetime(2026, 4, 1, tzinfo=UTC), dt.datetime(2026, 4, 1, tzinfo=UTC), "day", "sinceFrom"),
    (dt.datetime(2020, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC), "day", "interval"),
    (dt.datetime(1900, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC), "month", "sinceFrom"),
    (dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 2, 1, tzinfo=UTC), "hour", "interval"),
])
def test_bad_ranges_name_the_field(since, until, interval, field):
    with pytest.raises(ValidationFailed) as error:
        Range(since, until, interval, "UTC")
    assert error.value.field == field


def test_unknown_report_or_organisation(session, org):
    with pytest.raises(NotFound):
        reports.build_report(session, org.id, "nope", days())
    with pytest.raises(NotFound):
        reports.build_report(session, 10 ** 9, "members", days())


def test_presets_count_local_days_up_to_today():
    rng = reports.preset_range("30d", data.TIMEZONE, today=dt.date(2026, 4, 2))
    assert (rng.first_day, rng.last_day, rng.bucket_count()) == (dt.date(2026, 3, 4), dt.date(2026, 4, 2), 30)
    assert rng.since == dt.datetime(2026, 3, 3, 23, 0, tzinfo=UTC)  # midnight CET
    assert rng.until == dt.datetime(2026, 4, 2, 22, 0, tzinfo=UTC)  # midnight CEST
    year = reports.preset_range("year", data.TIMEZONE, interval=reports.MONTH, today=dt.date(2026, 4, 2))
    assert [b.label for b in year.buckets()] == ["2026-01", "2026-02", "2026-03", "2026-04"]


def test_week_against_last_week(session, world):
    now = dt.datetime(2026, 4, 8, 15, 0, tzinfo=UTC)  # Wednesday 17:00 in Berlin
    member = world.cleo
    with time_machine.travel(dt.datetime(2026, 4, 7, 9, 0, tzinfo=UTC), tick=False):
        factories.make_member(session, world.org)
        factories.give_points(session, world.org, member, 15)
        orders.record_order(session, member, orders.OrderInput(
            external_id="w-1", status=orders.CONFIRMED, total=Decimal("12.00"),
            items=[orders.ItemInput(sku="cake", quantity=1, unit_price=Decimal("12.00"))]), actor=world.org.actor)
        session.flush()
    figures = {f.key: f for f in reports.week_comparison(session, world.org.id, now=now)}
    # Last week up to Wednesday 1 April 17:00: Cleo joined; +40 and +80 minted; 5 burned; two coupons used.
    assert {k: (f.this_week, f.last_week) for k, f in figures.items()} == {
        "signups": (1, 1), "minted": (15, 120), "burned": (0, 5), "coupons": (0, 2), "purchases": (1, 0)}
    # Monday 30 March to Wednesday 8 April, a value a day.
    assert figures["minted"].daily == [0, 40, 80, -40, 300, 0, 0, 0, 15, 0]
    assert figures["signups"].change == 0 and figures["burned"].change == -100


def test_reports_only_read(session, world):
    session.flush()
    before = {model: session.scalar(select(func.count()).select_from(model))
              for model in (OutboxEvent, ledger.LedgerTransaction, members.Member)}
    for name in reports.REPORTS:
        reports.build_report(session, world.org.id, name, days(), compare=True)
    assert not session.new and not session.dirty
    assert before == {model: session.scalar(select(func.count()).select_from(model)) for model in before}
