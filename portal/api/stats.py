"""Stats: the reports of portal/domain/reports/ over the API, one route per report."""
from __future__ import annotations

from decimal import Decimal

from ..domain import reports
from ..domain.organizations import get_organization
from .core import Call, endpoint, ok
from .schemas import stats as s

ORG = "/organizations/<int:organizationId>"


def _plain(value):
    return float(value) if isinstance(value, Decimal) else value


def _columns(columns: list[reports.Column]) -> list[s.ColumnOut]:
    return [s.ColumnOut(key=c.key, label=c.label, kind="level" if c.level else "sum", unit=c.unit) for c in columns]


def stats_out(report: reports.Report) -> s.StatsOut:
    rng, previous = report.range, report.previous
    return s.StatsOut(
        report=report.name, title=report.title, timezone=rng.timezone, interval=rng.interval,
        since_from=rng.since, since_to=rng.until, columns=_columns(report.columns),
        results=[s.PeriodOut(period=row.bucket.label, period_start=row.bucket.start, since_from=row.bucket.since,
                             since_to=row.bucket.until, values={k: _plain(v) for k, v in row.values.items()})
                 for row in report.rows],
        totals={k: _plain(v) for k, v in report.totals.items()},
        previous=s.PreviousOut(since_from=previous.range.since, since_to=previous.range.until,
                               totals={k: _plain(v) for k, v in previous.totals.items()}) if previous else None,
        breakdowns=[s.BreakdownOut(key=t.key, title=t.title, columns=_columns(t.columns),
                                   rows=[{k: _plain(v) for k, v in row.items()} for row in t.rows])
                    for t in report.tables])


def _route(name: str, kind: reports.Kind) -> None:
    def handler(call: Call):
        q: s.StatsQuery = call.query
        org = get_organization(call.session, call.organization_id)
        rng = reports.requested_range(org.timezone, since=q.since_from, until=q.since_to, interval=q.interval)
        report = reports.build_report(call.session, call.organization_id, name, rng, compare=q.compare)
        return ok(stats_out(report).dump())

    handler.__name__ = name.replace("-", "_")
    endpoint(f"{ORG}/stats/{name}", role="reports:read", query=s.StatsQuery, response=s.StatsOut, tag="Stats",
             name_prefix="stats", summary=f"{kind.description}, per day, week or month "
                                          "in the organisation's timezone")(handler)


for _name, _kind in reports.REPORTS.items():
    _route(_name, _kind)
