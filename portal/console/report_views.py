"""Reports in the console: a page per report with a date-range picker, SVG charts, the totals against the
previous period of the same length, the table and its breakdowns; the same report as CSV and as PDF.

Every figure comes from portal/domain/reports/ (as the stats API's do); this module only picks the
range from the query string and turns the report into HTML, CSV or PDF.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from flask import abort, make_response, render_template, request
from flask_login import current_user

from ..auth import staff_required
from ..domain import cards, reports
from ..domain.errors import ValidationFailed
from ..domain.organizations import get_organization
from ..extensions import db
from . import bp, charts, navigation
from ..forms import attach_error
from .report_forms import CUSTOM, FIELDS, INTERVAL_LABELS, RangeForm

navigation.register("Reports", "console.report_index", "reports:read", "console.report_")


@bp.context_processor
def report_context():
    return {"sparkline": charts.sparkline, "cell": cell}


@bp.get("/reports/")
@staff_required("reports:read")
def report_index():
    return render_template("console/reports/index.html", kinds=reports.REPORTS)


@bp.get("/reports/<name>")
@staff_required("reports:read")
def report_show(name: str):
    form, report = _requested(name)
    return _page(name, form, report)


@bp.get("/reports/<name>.csv")
@staff_required("reports:read")
def report_csv(name: str):
    return _download(name, "csv", "text/csv", report_csv_text)


@bp.get("/reports/<name>.pdf")
@staff_required("reports:read")
def report_pdf(name: str):
    return _download(name, "pdf", "application/pdf", report_pdf_bytes)


def _download(name: str, extension: str, mimetype: str, render):
    """The report as a file; a range that is not valid shows the page with its errors instead."""
    form, report = _requested(name)
    if report is None:
        return _page(name, form, report)
    response = make_response(render(report))
    response.mimetype = mimetype
    response.headers["Content-Disposition"] = f'attachment; filename="{_file_name(report)}.{extension}"'
    return response


# --- the range and the report ------------------------------------------------------------------

def _requested(name: str) -> tuple[RangeForm, reports.Report | None]:
    """The form read from the query string and the report it names; None (and errors on the form) when the
    range is not valid."""
    if name not in reports.REPORTS:
        abort(404)
    session = db.session
    org = get_organization(session, current_user.organization_id)
    form = RangeForm(formdata=request.args)
    if not form.validate():
        return form, None
    try:
        if form.preset.data == CUSTOM:
            days = form.custom_days()
            if days is None:
                return form, None
            rng = reports.Range.of_days(*days, form.interval.data, org.timezone)
        else:
            rng = reports.preset_range(form.preset.data, org.timezone, interval=form.interval.data)
        return form, reports.build_report(session, org.id, name, rng, compare=True)
    except ValidationFailed as error:
        attach_error(form, error, FIELDS)
        return form, None


def _page(name: str, form: RangeForm, report: reports.Report | None):
    if report is not None and form.preset.data != CUSTOM:
        # Show the days a preset stands for, so that switching to "Custom" starts from them.
        for field, day in ((form.start, report.range.first_day), (form.end, report.range.last_day)):
            field.data, field.raw_data = day, None
    html = render_template("console/reports/show.html", name=name, kind=reports.REPORTS[name],
                           kinds=reports.REPORTS, form=form, report=report,
                           charts=report_charts(report) if report else [], range_text=range_text,
                           period_text=period_text, query=request.query_string.decode())
    return make_response(html, 200 if report is not None else 422)


# --- presenting a report -----------------------------------------------------------------------------

def cell(value, column: reports.Column) -> str:
    """A value as the table shows it: 1,234 points, 10.00 money, "—" when there is none."""
    if value is None:
        return "—"
    if column.unit == "text":
        return str(value)
    if column.unit == "money":
        return f"{Decimal(value):,.2f}"
    return f"{int(value):,}"


def plain(value, column: reports.Column) -> str:
    """A value as the CSV holds it: no thousands separators, money with two decimals."""
    if value is None:
        return ""
    if column.unit == "money":
        return f"{Decimal(value):.2f}"
    return str(value)


def day_text(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


def period_text(bucket: reports.Bucket, *, short: bool = False) -> str:
    """A bucket's name in the table and the CSV ("Fri 27 Mar 2026", "2026-W13 · from 27 Mar", "March 2026"),
    or under a chart's axis with `short` ("27 Mar", "W13", "Mar 26")."""
    start = bucket.start
    if bucket.interval == reports.WEEK:
        first = bucket.first_day
        return f"W{start.isocalendar()[1]}" if short else f"{bucket.label} · from {first.day} {first:%b}"
    if bucket.interval == reports.MONTH:
        return f"{start:%b %y}" if short else f"{start:%B %Y}"
    return f"{start.day} {start:%b}" if short else f"{start:%a} {day_text(start)}"


def range_text(rng: reports.Range) -> str:
    first, last = rng.first_day, rng.last_day
    days = day_text(first) if first == last else f"{day_text(first)} – {day_text(last)}"
    return f"{days} ({rng.timezone}), per {INTERVAL_LABELS[rng.interval].lower()}"


def report_charts(report: reports.Report) -> list[charts.Chart]:
    """A chart per kind of column (sums and levels, counts and money apart, as their scales differ); the
    first line of each also shown for the previous period, dashed."""
    groups: dict[tuple[bool, str], list[reports.Column]] = {}
    for column in report.columns:
        groups.setdefault((column.level, column.unit), []).append(column)
    labels = [period_text(row.bucket, short=True) for row in report.rows]
    drawn = []
    for (level, _unit), columns in groups.items():
        lines = [charts.Line(c.label, [row.values[c.key] for row in report.rows],
                             charts.PALETTE[n % len(charts.PALETTE)]) for n, c in enumerate(columns)]
        if report.previous is not None:
            first = columns[0]
            lines.append(charts.Line(f"{first.label}, previous period",
                                     [row.values[first.key] for row in report.previous.rows],
                                     charts.PALETTE[0], dashed=True))
        what = ", ".join(c.label for c in columns)
        title = f"{report.title}: {what} {'at the end of each' if level else 'per'} {report.range.interval}"
        drawn.append(charts.line_chart(labels, lines, title=title))
    return drawn


def report_csv_text(report: reports.Report) -> str:
    """The report's table as CSV: the same rows and columns as on the page, and the totals last."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Period", *(c.label for c in report.columns)])
    for row in report.rows:
        writer.writerow([period_text(row.bucket), *(plain(row.values[c.key], c) for c in report.columns)])
    writer.writerow(["Total", *(plain(report.totals[c.key], c) for c in report.columns)])
    return out.getvalue()


def report_pdf_bytes(report: reports.Report) -> bytes:
    """The whole report on A4: organisation, range, totals against the previous period, charts, tables."""
    html = render_template("console/reports/pdf.html", report=report, charts=report_charts(report),
                           range_text=range_text, period_text=period_text,
                           generated=dt.datetime.now(report.range.zone))
    return cards.render_pdf(html)


def _file_name(report: reports.Report) -> str:
    return f"{report.name}-{report.range.first_day}-{report.range.last_day}-{report.range.interval}"
