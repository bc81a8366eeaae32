"""Stats: one shape for every report (members, points, coupon books, discounts, missions, tiers, referrals,
events): the columns, a row of values per day, week or month, the totals, and tables beside them."""
from __future__ import annotations

import datetime as dt
from typing import Literal, Union

from pydantic import Field

from .common import STRICT_QUERY, In, Out, UtcDateTime

Number = Union[int, float]
Cell = Union[str, int, float, None]


class StatsQuery(In):
    model_config = STRICT_QUERY
    since_from: UtcDateTime | None = Field(None, description="Start, inclusive (default: sinceTo minus 30 days)")
    since_to: UtcDateTime | None = Field(None, description="End, exclusive (default: now)")
    interval: Literal["day", "week", "month"] = Field(
        "day", description="Buckets of the organisation's local days, ISO weeks (Monday first) or months")
    compare: bool = Field(False, description="Also the totals of the previous period of the same length")


class ColumnOut(Out):
    key: str
    label: str
    kind: Literal["sum", "level"] = Field(description="sum: counted over each bucket; level: the value at its end")
    unit: Literal["count", "points", "money", "text"]


class PeriodOut(Out):
    period: str = Field(description="2026-03-02 (day), 2026-W10 (week) or 2026-03 (month), in local time")
    period_start: dt.date = Field(description="The local date the bucket starts on")
    since_from: dt.datetime = Field(description="What the bucket covers, in UTC (clipped to the range)")
    since_to: dt.datetime
    values: dict[str, Number]


class PreviousOut(Out):
    since_from: dt.datetime
    since_to: dt.datetime
    totals: dict[str, Number]


class BreakdownOut(Out):
    key: str
    title: str
    columns: list[ColumnOut]
    rows: list[dict[str, Cell]] = Field(description="One object per row, keyed by column key (plus the row's ids)")


class StatsOut(Out):
    report: str
    title: str
    timezone: str
    interval: str
    since_from: dt.datetime
    since_to: dt.datetime
    columns: list[ColumnOut]
    results: list[PeriodOut]
    totals: dict[str, Number] = Field(description="Sums of the sum columns; level columns at the end of the range")
    previous: PreviousOut | None = Field(description="With compare=true: the period of the same length before")
    breakdowns: list[BreakdownOut]
