"""Report ranges: [since, until) in UTC, cut into buckets of an organisation's local day, ISO week
(Monday first) or calendar month, and the SQL that puts a timestamp column on its local day.

The database groups rows by local day -- the UTC time plus the offset of each stretch of the range
between two clock changes, as Python's tz database has it -- and weeks and months are sums of those
days. When a range does not start or end at local midnight, its first or last bucket is partial.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Date, DateTime, Integer, and_, bindparam, case, cast, func, literal, literal_column, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ..errors import ValidationFailed

UTC = dt.timezone.utc
DAY, WEEK, MONTH = "day", "week", "month"
INTERVALS = (DAY, WEEK, MONTH)
MAX_BUCKETS = 1000  # about 2.7 years by day, 19 by week, 83 by month
EARLIEST = dt.datetime(1970, 1, 2, tzinfo=UTC)  # local days stay after 1 January 1970 in every timezone
LATEST = dt.datetime(2200, 1, 1, tzinfo=UTC)

PRESETS = {"7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days", "year": "This year"}
PRESET_DAYS = {"7d": 7, "30d": 30, "90d": 90}


# --- ranges and buckets -------------------------------------------------------------------

@dataclass(frozen=True)
class Bucket:
    """One row of a report: the local date it starts on and the UTC instants it covers (clipped to the range)."""

    start: dt.date
    since: dt.datetime
    until: dt.datetime
    interval: str
    first_day: dt.date  # the first local day it covers: its start, or the range's first day

    @property
    def label(self) -> str:
        if self.interval == WEEK:
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.interval == MONTH:
            return self.start.strftime("%Y-%m")
        return self.start.isoformat()


@dataclass(frozen=True)
class Range:
    """[since, until) in UTC, counted in `interval` buckets of `timezone`'s local time.

    Raises ValidationFailed (naming the API field) when the range is empty or reversed, outside
    1970-2200, has more than MAX_BUCKETS buckets, or the interval or timezone is unknown."""

    since: dt.datetime
    until: dt.datetime
    interval: str = DAY
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.interval not in INTERVALS:
            raise ValidationFailed("interval must be day, week or month", field="interval")
        get_zone(self.timezone)
        for name, value in (("sinceFrom", self.since), ("sinceTo", self.until)):
            if value.tzinfo is None:
                raise ValidationFailed("must include a timezone", field=name)
            if not EARLIEST <= value <= LATEST:
                raise ValidationFailed("must be between 1970 and 2200", field=name)
        if self.since >= self.until:
            raise ValidationFailed("sinceFrom must be before sinceTo", field="sinceFrom")
        count = self.bucket_count()
        if count > MAX_BUCKETS:
            raise ValidationFailed(f"This range has {count} {self.interval}s; at most {MAX_BUCKETS} fit in a "
                                   "report: choose a longer interval or a shorter range", field="interval")

    @classmethod
    def of_days(cls, first: dt.date, last: dt.date, interval: str = DAY, timezone: str = "UTC") -> "Range":
        """Whole local days, first to last inclusive."""
        if last < first:
            raise ValidationFailed("The last day must not be before the first", field="sinceTo")
        if not (dt.date(1970, 1, 3) <= first and last <= dt.date(2199, 12, 30)):
            raise ValidationFailed("Choose days between 1970 and 2200", field="sinceFrom")
        zone = get_zone(timezone)
        return cls(midnight(first, zone), midnight(last + dt.timedelta(days=1), zone), interval, timezone)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, moment: dt.datetime) -> dt.datetime:
        """The wall-clock time in this range's timezone, naive."""
        return moment.astimezone(self.zone).replace(tzinfo=None)

    @property
    def first_day(self) -> dt.date:
        return self.local(self.since).date()

    @property
    def last_day(self) -> dt.date:
        """The last local day the range touches (until is exclusive)."""
        return self.local(self.until - dt.timedelta(microseconds=1)).date()

    def with_interval(self, interval: str) -> "Range":
        return Range(self.since, self.until, interval, self.timezone)

    def previous(self) -> "Range":
        """The range of the same wall-clock length just before this one (30 days before the last 30 days)."""
        start, end = self.local(self.since), self.local(self.until)
        before = to_utc(start - (end - start), self.zone)
        return Range(max(before, EARLIEST), self.since, self.interval, self.timezone)

    def bucket_start(self, day: dt.date) -> dt.date:
        if self.interval == WEEK:
            return day - dt.timedelta(days=day.weekday())
        if self.interval == MONTH:
            return day.replace(day=1)
        return day

    def next_start(self, start: dt.date) -> dt.date:
        if self.interval == WEEK:
            return start + dt.timedelta(days=7)
        if self.interval == MONTH:
            return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return start + dt.timedelta(days=1)

    def bucket_count(self) -> int:
        first, last = self.first_day, self.last_day
        if self.interval == MONTH:
            return (last.year - first.year) * 12 + last.month - first.month + 1
        if self.interval == WEEK:
            return (self.bucket_start(last) - self.bucket_start(first)).days // 7 + 1
        return (last - first).days + 1

    def buckets(self) -> list[Bucket]:
        zone, found = self.zone, []
        start = self.bucket_start(self.first_day)
        begins = max(self.since, midnight(start, zone))
        while start <= self.last_day:
            following = self.next_start(start)
            ends = min(self.until, midnight(following, zone))
            found.append(Bucket(start, begins, ends, self.interval, max(start, self.first_day)))
            start, begins = following, ends
        return found


def requested_range(timezone: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                    interval: str = DAY, now: dt.datetime | None = None) -> Range:
    """The API's range: [sinceFrom, sinceTo), by default the 30 days up to now. Raises ValidationFailed."""
    until = until or (now or dt.datetime.now(UTC))
    return Range(since or until - dt.timedelta(days=30), until, interval, timezone)


def preset_range(preset: str, timezone: str, *, interval: str = DAY, today: dt.date | None = None) -> Range:
    """A preset of the console's picker: the last 7, 30 or 90 local days up to today, or this year so far."""
    today = today or dt.datetime.now(get_zone(timezone)).date()
    if preset == "year":
        return Range.of_days(today.replace(month=1, day=1), today, interval, timezone)
    if preset not in PRESET_DAYS:
        raise ValidationFailed("Unknown preset", field="preset")
    return Range.of_days(today - dt.timedelta(days=PRESET_DAYS[preset] - 1), today, interval, timezone)


def get_zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationFailed("Unknown timezone", field="timezone") from None


def midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return to_utc(dt.datetime.combine(day, dt.time()), zone)


def to_utc(wall_clock: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return wall_clock.replace(tzinfo=zone).astimezone(UTC)


# --- grouping by local day on the database ------------------------------------------------

# unixepoch() came with SQLite 3.38; it is the cheapest way from the stored text to a number.
_SQLITE_UNIXEPOCH = sqlite3.sqlite_version_info >= (3, 38)
EPOCH = dt.date(1970, 1, 1)


def local_day(session: Session, column, rng: Range):
    """SQL for the local day of a UTC timestamp column: a date on PostgreSQL, on SQLite the number of days
    since 1 January 1970 (whole-number arithmetic costs less per row there than date()).

    Both add the UTC offset that Python's tz database gives for each stretch of the range between two clock
    changes (a CASE on the timestamp when the range has several), so both databases count the same days,
    and neither converts a named timezone row by row (which costs PostgreSQL a third more)."""
    stretches = _offsets(rng.zone, rng.since, rng.until)

    def offset(value_of):
        if len(stretches) == 1:
            return value_of(stretches[0][1])
        return case(*[(column < stretches[n + 1][0], value_of(seconds)) for n, (_, seconds) in
                      enumerate(stretches[:-1])], else_=value_of(stretches[-1][1]))

    if session.get_bind().dialect.name == "postgresql":
        # UTC wall-clock time (rendered inline, so that GROUP BY repeats the SELECT's expression exactly).
        wall_clock = func.timezone(literal("UTC", literal_execute=True), column)
        if stretches == [(rng.since, 0)]:
            return cast(wall_clock, Date)
        return cast(wall_clock + offset(lambda seconds: literal_column(f"interval '{int(seconds)} seconds'")), Date)
    seconds = (func.unixepoch(column, type_=Integer) if _SQLITE_UNIXEPOCH
               else cast(func.strftime("%s", column), Integer))
    if stretches == [(rng.since, 0)]:
        return seconds // 86400
    return (seconds + offset(lambda seconds: seconds)) // 86400


def bucketed(session: Session, column, rng: Range):
    """(the bucket each row falls in, the tables to select from besides the column's, the condition) for a
    timestamp column over the range.

    PostgreSQL: the range's buckets as a table (unnest of three array parameters: start, since, until),
    joined on `column >= since AND column < until`: each bucket is a range scan of the column's index, with
    no date arithmetic and no sort per row, and the local days come from Python's tz database exactly.
    (Arrays rather than VALUES, which SQLAlchemy compiles afresh for every report.)
    SQLite: the local day of every row (`local_day`), already within the issue's 1.5 times the raw GROUP BY
    there (bench/report_speed.py)."""
    if session.get_bind().dialect.name != "postgresql":
        return local_day(session, column, rng).label("day"), [], within(column, rng)
    buckets = rng.buckets()
    moments = postgresql.ARRAY(DateTime(timezone=True))
    table = func.unnest(
        bindparam("bucket_start", [b.start for b in buckets], type_=postgresql.ARRAY(Date), unique=True),
        bindparam("bucket_since", [b.since for b in buckets], type_=moments, unique=True),
        bindparam("bucket_until", [b.until for b in buckets], type_=moments, unique=True),
    ).table_valued("start", "since", "until").render_derived("buckets")
    return table.c.start, [table], and_(column >= table.c.since, column < table.c.until)


def plan_as_a_report(session: Session) -> None:
    """PostgreSQL: for the rest of this transaction (a report's request only reads), each statement planned for
    its own values, and no JIT compilation.

    - Custom plans: a reading request ends with COMMIT (portal/db.py), so psycopg keeps a statement prepared, and
      after five runs PostgreSQL may switch it to a generic plan, one for any values. For a report's range that
      plan was ruinous: the points report over a year went from 1 s to 21 s a request (bench, session 6).
    - No JIT: the planner guesses far more rows per bucket for `bucketed`'s join on a range than there are, so
      its estimated cost passes `jit_above_cost` and compiling takes longer than the query (30 days over 1M
      entries: 12 to 27 ms of JIT for a 17 ms query; a year: 260 to 460 ms for 340 ms)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.set_config("jit", "off", True),
                               func.set_config("plan_cache_mode", "force_custom_plan", True)))


def _offsets(zone: ZoneInfo, since: dt.datetime, until: dt.datetime) -> list[tuple[dt.datetime, int]]:
    """(from, UTC offset in seconds) for each stretch of [since, until) that keeps one offset."""
    def offset(moment: dt.datetime) -> int:
        return int(moment.astimezone(zone).utcoffset().total_seconds())

    stretches = [(since, offset(since))]
    step = dt.timedelta(days=1)
    probe = since
    while probe < until:
        after = min(probe + step, until)
        if offset(after) != stretches[-1][1]:
            low, high = probe, after  # the change is in (low, high]: halve to the second
            while high - low > dt.timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == stretches[-1][1] else (low, middle)
            stretches.append((high.replace(microsecond=0), offset(high)))
        probe = after
    return stretches


def as_date(value) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return EPOCH + dt.timedelta(days=int(value))


def within(column, rng: Range):
    return and_(column >= rng.since, column < rng.until)
