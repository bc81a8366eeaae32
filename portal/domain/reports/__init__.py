"""Reports: how the programme performs over time, read from the rows the domain writes.

One home for every figure: the stats API, the console's report pages with their
CSV and PDF, and the dashboard's week against last week all call this module,
so no two faces can disagree.

Time. A report covers a `Range` ([since, until) in UTC) and counts rows in buckets of the
organisation's local day, ISO week or calendar month: see ranges.py, which also groups a timestamp
column by local day on the database (`local_day`).

Invariants:
- Reading only: explicit select()s; nothing is added, changed or flushed.
- Every query is bound to the organisation (its id, or its own ledger account
  or programme): another organisation's rows are never counted.
- A flow column (signups, points minted) totals the sum of its buckets. A level
  column (members, points outstanding, members per tier) gives the value at the
  end of each bucket and totals the value at the end of the range; it is worked
  out backwards from the current state (wallet balances, current tiers) minus
  what happened since, so it agrees with the wallets to the point.
- Points are net of reverts: minted - burned - expired over all time equals the
  members' balances (the points outstanding). Burns by the expiry job count as
  expired, every other burn as burned.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import and_, case, exists, func, literal, null, select, union_all
from sqlalchemy.orm import Session

from .. import ledger
from ..coupons.models import DISCOUNT, FIXED, USE, CouponBook, CouponUsage
from ..errors import NotFound, ValidationFailed
from ..expiry import PointsLot
from ..ledger import LedgerTransaction, Wallet, WalletShard
from ..members import Member
from ..missions import Mission
from ..orders import PurchaseOrder
from ..organizations import Organization, default_program
from ..outbox import MAIL_REQUESTED, OutboxEvent
from ..referrals import COMPLETED, Referral
from ..tiers import MemberTier, Tier, TierHistory
# The range names are part of this package's face (reports.Range, reports.DAY, reports.PRESETS...).
from .ranges import (DAY, INTERVALS, MONTH, PRESETS, UTC, WEEK, Bucket, Range, as_date, bucketed, get_zone,
                     local_day, midnight, preset_range, requested_range, to_utc, within, plan_as_a_report)

TOP = 10  # rows of a ranking (top members, top referrers)
MAX_SERIES = 6  # per-type columns of the events report; the rest is "other"
EXPIRY_LABEL = "expiry"  # the actor label of the expiry job's burns (portal/domain/expiry.py)


# --- the report -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    key: str
    label: str
    level: bool = False  # a value at the end of each bucket, not a sum over it
    unit: str = "count"  # count | points | money


@dataclass
class Row:
    bucket: Bucket
    values: dict[str, Any]


@dataclass
class Table:
    """A ranking or breakdown beside the series: `columns[0]` names the row (a book, a member...)."""

    key: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]


@dataclass
class Report:
    name: str
    title: str
    organization: str
    range: Range
    columns: list[Column]
    rows: list[Row]
    totals: dict[str, Any]
    tables: list[Table] = field(default_factory=list)
    previous: "Report | None" = None

    def change(self, key: str) -> float | None:
        """Percent change of a total against the previous period; None without one or from zero."""
        if self.previous is None or not self.previous.totals.get(key):
            return None
        before = self.previous.totals[key]
        return float((self.totals[key] - before) * 100 / abs(before))


def _fold(rng: Range, columns: list[Column], per_day: dict[dt.date, dict[str, Any]],
          start: dict[str, Any] | None = None) -> tuple[list[Row], dict[str, Any]]:
    """Bucket rows and totals from values per local day (for level columns: the change that day) and the
    level columns' values at the start of the range."""
    def zero(column: Column):
        return Decimal("0.00") if column.unit == "money" else 0

    rows = [Row(bucket, {c.key: zero(c) for c in columns}) for bucket in rng.buckets()]
    by_start = {row.bucket.start: row for row in rows}
    for day, values in per_day.items():
        row = by_start.get(rng.bucket_start(day))
        if row is not None:
            for key, value in values.items():
                if key in row.values:
                    row.values[key] += value
    running = {c.key: (start or {}).get(c.key, 0) for c in columns if c.level}
    for row in rows:
        for key in running:
            running[key] += row.values[key]
            row.values[key] = running[key]
    totals = {c.key: sum((row.values[c.key] for row in rows), zero(c)) for c in columns if not c.level}
    totals.update(running)
    return rows, totals


def _add(per_day: dict[dt.date, dict[str, Any]], day, key: str, value) -> None:
    values = per_day.setdefault(as_date(day), {})
    values[key] = values.get(key, 0) + (value or 0)


# --- members ------------------------------------------------------------------------------------

def members_report(session: Session, org: Organization, rng: Range) -> Report:
    """Signups per bucket and the number of members at the end of each."""
    day = local_day(session, Member.created_at, rng).label("day")
    mine = Member.organization_id == org.id
    per_day: dict[dt.date, dict[str, Any]] = {}
    for when, count in session.execute(select(day, func.count()).where(mine, within(Member.created_at, rng))
                                       .group_by(day)):
        _add(per_day, when, "signups", count)
        _add(per_day, when, "members", count)
    before = session.scalar(select(func.count()).select_from(Member).where(mine, Member.created_at < rng.since))
    columns = [Column("signups", "Signups"), Column("members", "Members", level=True)]
    rows, totals = _fold(rng, columns, per_day, {"members": before})
    return Report("members", "Members", org.name, rng, columns, rows, totals)


# --- points ---------------------------------------------------------------------------------------

def points_report(session: Session, org: Organization, rng: Range) -> Report:
    """Points minted, burned and expired per bucket (net of reverts), and outstanding at the end of each.

    One statement reads the buckets, what happened after the range and the wallets' balances now, so on
    PostgreSQL all three come from one snapshot. The buckets are `ranges.bucketed`'s: on PostgreSQL a range
    scan of the (account, created_at) index per bucket, which with JIT off takes about half the time of a
    plain GROUP BY over the same rows (bench/report_speed.py). Telling expiries from other burns costs a column per row,
    so it is done only for an account that ever had expiring points (lots). The account is the default
    programme's points account."""
    account_id = default_program(session, org.id).points_account_id
    wallets, had_lots = {}, False
    for kind, wallet_id, had_lots in session.execute(select(
            Wallet.kind, Wallet.id, exists().where(PointsLot.ledger_account_id == account_id))
            .where(Wallet.ledger_account_id == account_id, Wallet.kind.in_((ledger.ISSUANCE, ledger.BURNED)))):
        wallets[kind] = wallet_id
    issuance, burned = wallets[ledger.ISSUANCE], wallets[ledger.BURNED]
    tx = LedgerTransaction
    sums = [func.sum(case((tx.from_wallet_id == issuance, tx.amount), (tx.to_wallet_id == issuance, -tx.amount),
                          else_=0)),
            func.sum(case((tx.to_wallet_id == burned, tx.amount), (tx.from_wallet_id == burned, -tx.amount),
                          else_=0))]
    if had_lots:
        by_expiry = and_(tx.actor_kind == "system", tx.actor_label == EXPIRY_LABEL)
        sums.append(func.sum(case((tx.to_wallet_id == burned, case((by_expiry, tx.amount), else_=0)), else_=0)))
    else:
        sums.append(literal(0))
    # Pending transactions move nothing until captured (the capture is its own row); voids move nothing.
    moved = and_(tx.ledger_account_id == account_id, tx.status == ledger.POSTED, tx.type != ledger.VOID)
    day, buckets, in_bucket = bucketed(session, tx.created_at, rng)
    in_range = (select(literal("day").label("part"), day, *sums).select_from(*buckets, tx)
                .where(moved, in_bucket).group_by(day))
    after = select(literal("after"), null(), *sums).where(moved, tx.created_at >= rng.until)
    # A system wallet's balance is its row and its shards (ledger.py).
    parts = union_all(select(Wallet.id.label("wallet_id"), Wallet.balance.label("balance"))
                      .where(Wallet.id.in_((issuance, burned))),
                      select(WalletShard.wallet_id, WalletShard.balance)
                      .where(WalletShard.wallet_id.in_((issuance, burned)))).subquery()
    now = select(literal("now"), null(),
                 -func.sum(case((parts.c.wallet_id == issuance, parts.c.balance), else_=0)),
                 func.sum(case((parts.c.wallet_id == burned, parts.c.balance), else_=0)),
                 literal(0)).select_from(parts)
    per_day: dict[dt.date, dict[str, Any]] = {}
    net = {"after": 0, "now": 0}
    for part, when, minted, burned_all, expired in session.execute(union_all(in_range, after, now)):
        # Burns include expiries until here: outstanding is minted - all burns.
        minted, burned_all, expired = int(minted or 0), int(burned_all or 0), int(expired or 0)
        if part == "day":
            for key, value in (("minted", minted), ("burned", burned_all - expired), ("expired", expired),
                               ("outstanding", minted - burned_all)):
                _add(per_day, when, key, value)
        else:
            net[part] = minted - burned_all
    in_range_net = sum(values["outstanding"] for values in per_day.values())
    columns = [Column("minted", "Minted", unit="points"), Column("burned", "Burned", unit="points"),
               Column("expired", "Expired", unit="points"),
               Column("outstanding", "Outstanding", level=True, unit="points")]
    rows, totals = _fold(rng, columns, per_day, {"outstanding": net["now"] - net["after"] - in_range_net})
    return Report("points", "Points", org.name, rng, columns, rows, totals)


# --- coupons ------------------------------------------------------------------------------------------

def _coupon_counts(session: Session, org: Organization, rng: Range, *, discounts_only: bool = False):
    """(day, book, kind, count) of live (not reverted) assignments and uses in the range."""
    day = local_day(session, CouponUsage.created_at, rng).label("day")
    stmt = (select(day, CouponUsage.book_id, CouponUsage.kind, func.count())
            .where(CouponUsage.organization_id == org.id, within(CouponUsage.created_at, rng),
                   CouponUsage.reverted_at.is_(None))
            .group_by(day, CouponUsage.book_id, CouponUsage.kind))
    if discounts_only:
        stmt = stmt.join(CouponBook, CouponBook.id == CouponUsage.book_id).where(CouponBook.type == DISCOUNT)
    return session.execute(stmt).all()


def _books(session: Session, org: Organization, ids) -> dict[int, CouponBook]:
    if not ids:
        return {}
    return {b.id: b for b in session.scalars(select(CouponBook).where(CouponBook.organization_id == org.id,
                                                                      CouponBook.id.in_(set(ids))))}


def coupon_books_report(session: Session, org: Organization, rng: Range) -> Report:
    """Coupons assigned and used per bucket, and per book."""
    per_day: dict[dt.date, dict[str, Any]] = {}
    per_book: dict[int, dict[str, int]] = {}
    for when, book_id, kind, count in _coupon_counts(session, org, rng):
        key = "used" if kind == USE else "assigned"
        _add(per_day, when, key, count)
        book = per_book.setdefault(book_id, {"assigned": 0, "used": 0})
        book[key] += count
    columns = [Column("assigned", "Assigned"), Column("used", "Used")]
    rows, totals = _fold(rng, columns, per_day)
    books = _books(session, org, per_book)
    table = Table("couponBooks", "Per coupon book", [Column("name", "Coupon book", unit="text"),
                                                     Column("type", "Type", unit="text"),
                                                     Column("assigned", "Assigned"), Column("used", "Used")],
                  [{"couponBookId": book_id, "name": books[book_id].name, "type": books[book_id].type, **counts}
                   for book_id, counts in sorted(per_book.items(), key=lambda item: (-item[1]["used"],
                                                                                     -item[1]["assigned"], item[0]))
                   if book_id in books])
    return Report("coupon-books", "Coupon books", org.name, rng, columns, rows, totals, [table])


def discounts_report(session: Session, org: Organization, rng: Range) -> Report:
    """Discount coupons used per bucket and the money they took off (known for fixed amounts only)."""
    counts = [(when, book_id, n) for when, book_id, kind, n in _coupon_counts(session, org, rng, discounts_only=True)
              if kind == USE]
    books = _books(session, org, [book_id for _, book_id, _ in counts])
    per_day: dict[dt.date, dict[str, Any]] = {}
    per_book: dict[int, dict[str, Any]] = {}
    for when, book_id, n in counts:
        amount = _fixed_amount(books[book_id]) * n
        _add(per_day, when, "used", n)
        _add(per_day, when, "amount", amount)
        book = per_book.setdefault(book_id, {"used": 0, "amount": Decimal("0.00")})
        book["used"] += n
        book["amount"] += amount
    columns = [Column("used", "Used"), Column("amount", "Fixed discounts", unit="money")]
    rows, totals = _fold(rng, columns, per_day)
    table = Table("couponBooks", "Per discount coupon book", [
        Column("name", "Coupon book", unit="text"), Column("discount", "Discount", unit="text"),
        Column("used", "Used"), Column("amount", "Amount", unit="money")], [
        {"couponBookId": book_id, "name": books[book_id].name, "discount": _discount_text(books[book_id]),
         "used": figures["used"], "amount": figures["amount"] if books[book_id].discount_type == FIXED else None}
        for book_id, figures in sorted(per_book.items(), key=lambda item: (-item[1]["used"], item[0]))])
    return Report("discounts", "Discounts", org.name, rng, columns, rows, totals, [table])


def _fixed_amount(book: CouponBook) -> Decimal:
    if book.discount_type != FIXED or book.discount_amount is None:
        return Decimal("0.00")
    return Decimal(book.discount_amount).quantize(Decimal("0.01"))


def _discount_text(book: CouponBook) -> str:
    if book.discount_amount is None:
        return ""
    amount = Decimal(book.discount_amount).normalize()
    return f"{amount:f} %" if book.discount_type != FIXED else f"{Decimal(book.discount_amount):.2f} off"


# --- missions ---------------------------------------------------------------------------------------------

def missions_report(session: Session, org: Organization, rng: Range) -> Report:
    """Mission completions per bucket, per mission and the members who completed most."""
    event = OutboxEvent
    completed_now = func.sum(event.payload["completedNow"].as_integer())
    completions = and_(event.organization_id == org.id, event.event_type == "mission-status-updated",
                       event.payload["status"].as_string() == "completed", within(event.created_at, rng))
    day = local_day(session, event.created_at, rng).label("day")
    mission_id = event.payload["missionId"].as_integer().label("mission_id")
    per_day: dict[dt.date, dict[str, Any]] = {}
    per_mission: dict[int, int] = {}
    for when, mission, n in session.execute(select(day, mission_id, completed_now).where(completions)
                                            .group_by(day, mission_id)):
        _add(per_day, when, "completions", n)
        per_mission[mission] = per_mission.get(mission, 0) + int(n or 0)
    columns = [Column("completions", "Completions")]
    rows, totals = _fold(rng, columns, per_day)
    names = dict(session.execute(select(Mission.id, Mission.name).where(
        Mission.organization_id == org.id, Mission.id.in_(set(per_mission) or {0}))).all())
    by_mission = Table("missions", "Per mission", [Column("name", "Mission", unit="text"),
                                                   Column("completions", "Completions")],
                       [{"missionId": mission, "name": names[mission], "completions": n}
                        for mission, n in sorted(per_mission.items(), key=lambda item: (-item[1], item[0]))
                        if mission in names])
    top = session.execute(select(event.member_id, completed_now.label("n")).where(completions)
                          .group_by(event.member_id).order_by(completed_now.desc(), event.member_id).limit(TOP)).all()
    return Report("missions", "Missions", org.name, rng, columns, rows, totals,
                  [by_mission, _member_table(session, org, "topMembers", "Members with most completions",
                                             [Column("completions", "Completions")],
                                             [(member_id, {"completions": int(n)}) for member_id, n in top])])


def _member_table(session: Session, org: Organization, key: str, title: str, columns: list[Column],
                  ranked: list[tuple[int, dict[str, Any]]]) -> Table:
    ids = [member_id for member_id, _ in ranked]
    people = {m.id: m for m in session.scalars(select(Member).where(Member.organization_id == org.id,
                                                                    Member.id.in_(ids or [0])))}
    return Table(key, title, [Column("name", "Member", unit="text"), *columns],
                 [{"memberId": member_id, "name": people[member_id].display_name, **values}
                  for member_id, values in ranked if member_id in people])


# --- tiers ------------------------------------------------------------------------------------------------

def tiers_report(session: Session, org: Organization, rng: Range) -> Report:
    """Members in each tier of the default programme at the end of every bucket."""
    program = default_program(session, org.id)
    ladder = list(session.scalars(select(Tier).where(Tier.loyalty_program_id == program.id)
                                  .order_by(Tier.min_points, Tier.id)))
    keys = {tier.id: f"tier{tier.id}" for tier in ladder}
    now = dict(session.execute(select(MemberTier.tier_id, func.count()).where(
        MemberTier.loyalty_program_id == program.id, MemberTier.tier_id.is_not(None))
        .group_by(MemberTier.tier_id)).all())
    history = TierHistory
    mine = and_(history.organization_id == org.id, history.loyalty_program_id == program.id)
    day = local_day(session, history.created_at, rng).label("day")
    per_day: dict[dt.date, dict[str, Any]] = {}
    for when, from_tier, to_tier, n in session.execute(
            select(day, history.from_tier_id, history.to_tier_id, func.count())
            .where(mine, within(history.created_at, rng)).group_by(day, history.from_tier_id, history.to_tier_id)):
        for tier_id, sign in ((to_tier, 1), (from_tier, -1)):
            if tier_id in keys:
                _add(per_day, when, keys[tier_id], sign * n)
    at_end = {keys[t]: now.get(t, 0) for t in keys}
    for from_tier, to_tier, n in session.execute(
            select(history.from_tier_id, history.to_tier_id, func.count())
            .where(mine, history.created_at >= rng.until).group_by(history.from_tier_id, history.to_tier_id)):
        for tier_id, sign in ((to_tier, -1), (from_tier, 1)):
            if tier_id in keys:
                at_end[keys[tier_id]] += sign * n
    start = {key: at_end[key] - sum(values.get(key, 0) for values in per_day.values()) for key in at_end}
    columns = [Column(keys[tier.id], tier.name, level=True) for tier in ladder]
    rows, totals = _fold(rng, columns, per_day, start)
    table = Table("tiers", "Per tier", [Column("name", "Tier", unit="text"), Column("atStart", "At the start"),
                                        Column("atEnd", "At the end"), Column("change", "Change")],
                  [{"loyaltyTierId": tier.id, "name": tier.name, "atStart": start[keys[tier.id]],
                    "atEnd": totals[keys[tier.id]], "change": totals[keys[tier.id]] - start[keys[tier.id]]}
                   for tier in ladder])
    return Report("tiers", "Tiers", org.name, rng, columns, rows, totals, [table])


# --- referrals --------------------------------------------------------------------------------------------

def referrals_report(session: Session, org: Organization, rng: Range) -> Report:
    """Referrals made (friends who joined with a code) and completed (rewarded) per bucket; top referrers."""
    per_day: dict[dt.date, dict[str, Any]] = {}
    made_day = local_day(session, Referral.created_at, rng).label("day")
    for when, n in session.execute(select(made_day, func.count()).where(
            Referral.organization_id == org.id, within(Referral.created_at, rng)).group_by(made_day)):
        _add(per_day, when, "made", n)
    done_day = local_day(session, Referral.completed_at, rng).label("day")
    for when, n in session.execute(select(done_day, func.count()).where(
            Referral.organization_id == org.id, Referral.status == COMPLETED, within(Referral.completed_at, rng))
            .group_by(done_day)):
        _add(per_day, when, "completed", n)
    columns = [Column("made", "Made"), Column("completed", "Completed")]
    rows, totals = _fold(rng, columns, per_day)
    made = func.count()
    done = func.sum(case((Referral.status == COMPLETED, 1), else_=0))
    top = session.execute(select(Referral.referrer_id, made, done).where(
        Referral.organization_id == org.id, within(Referral.created_at, rng))
        .group_by(Referral.referrer_id).order_by(made.desc(), Referral.referrer_id).limit(TOP)).all()
    table = _member_table(session, org, "topReferrers", "Members who referred most (referrals made in the range)",
                          [Column("made", "Made"), Column("completed", "Completed so far")],
                          [(member_id, {"made": n, "completed": int(c or 0)}) for member_id, n, c in top])
    return Report("referrals", "Referrals", org.name, rng, columns, rows, totals, [table])


# --- events -----------------------------------------------------------------------------------------------

def events_report(session: Session, org: Organization, rng: Range) -> Report:
    """Events per bucket: all of them, and the most frequent types one by one."""
    day = local_day(session, OutboxEvent.created_at, rng).label("day")
    found = session.execute(select(day, OutboxEvent.event_type, func.count()).where(
        OutboxEvent.organization_id == org.id, within(OutboxEvent.created_at, rng),
        OutboxEvent.event_type != MAIL_REQUESTED)  # mail is not a loyalty event
        .group_by(day, OutboxEvent.event_type)).all()
    per_type: dict[str, int] = {}
    for _, event_type, n in found:
        per_type[event_type] = per_type.get(event_type, 0) + n
    ranked = sorted(per_type.items(), key=lambda item: (-item[1], item[0]))
    shown = [event_type for event_type, _ in ranked[:MAX_SERIES]]
    per_day: dict[dt.date, dict[str, Any]] = {}
    for when, event_type, n in found:
        _add(per_day, when, "events", n)
        _add(per_day, when, f"type:{event_type}" if event_type in shown else "other", n)
    columns = [Column("events", "All events"), *(Column(f"type:{t}", t) for t in shown)]
    if len(ranked) > MAX_SERIES:
        columns.append(Column("other", "Other types"))
    rows, totals = _fold(rng, columns, per_day)
    table = Table("eventTypes", "Per event type", [Column("eventType", "Event type", unit="text"),
                                                   Column("count", "Events")],
                  [{"eventType": event_type, "count": n} for event_type, n in ranked])
    return Report("events", "Events", org.name, rng, columns, rows, totals, [table])


# --- the registry and the one entry point ---------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    title: str
    description: str
    build: Callable[[Session, Organization, Range], Report]


REPORTS: dict[str, Kind] = {
    "members": Kind("Members", "Member signups and the number of members", members_report),
    "points": Kind("Points", "Points minted, burned and expired, and points outstanding", points_report),
    "coupon-books": Kind("Coupon books", "Coupons assigned and used, per coupon book", coupon_books_report),
    "discounts": Kind("Discounts", "Discount coupons used and the amounts they took off", discounts_report),
    "missions": Kind("Missions", "Mission completions and the members who completed most", missions_report),
    "tiers": Kind("Tiers", "Members in each tier over time", tiers_report),
    "referrals": Kind("Referrals", "Referrals made and completed, and the top referrers", referrals_report),
    "events": Kind("Events", "Events by type", events_report),
}


def build_report(session: Session, organization_id: int, name: str, rng: Range, *, compare: bool = False) -> Report:
    """The report `name` over `rng` for the organisation; with `compare`, also the previous period of the same
    length (report.previous). Raises NotFound for an unknown report name."""
    kind = REPORTS.get(name)
    if kind is None:
        raise NotFound("No such report", field="report")
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("Organization not found")
    plan_as_a_report(session)
    report = kind.build(session, org, rng)
    report.title = kind.title
    if compare:
        try:
            before = rng.previous()
        except ValidationFailed:  # before 1970, or one bucket too many: nothing to compare with
            return report
        report.previous = kind.build(session, org, before)
    return report


# --- the dashboard: this week against last week ---------------------------------------------------------

@dataclass
class WeekFigure:
    key: str
    label: str
    this_week: int
    last_week: int
    daily: list[int]  # last week's Monday to today, for a sparkline

    @property
    def change(self) -> float | None:
        if not self.last_week:
            return None
        return (self.this_week - self.last_week) * 100 / self.last_week


def _purchases(session: Session, org: Organization, rng: Range) -> Report:
    """Purchase orders confirmed per bucket (a figure of the dashboard, not a report of its own)."""
    day = local_day(session, PurchaseOrder.confirmed_at, rng).label("day")
    per_day: dict[dt.date, dict[str, Any]] = {}
    for when, n in session.execute(select(day, func.count()).where(
            PurchaseOrder.organization_id == org.id, within(PurchaseOrder.confirmed_at, rng)).group_by(day)):
        _add(per_day, when, "purchases", n)
    columns = [Column("purchases", "Purchases")]
    rows, totals = _fold(rng, columns, per_day)
    return Report("purchases", "Purchases", org.name, rng, columns, rows, totals)


# (figure key, label, report builder, the report column it shows)
WEEK_FIGURES = (("signups", "Signups", members_report, "signups"),
                ("minted", "Points minted", points_report, "minted"),
                ("burned", "Points burned", points_report, "burned"),
                ("coupons", "Coupons used", coupon_books_report, "used"),
                ("purchases", "Purchases", _purchases, "purchases"))


def week_comparison(session: Session, organization_id: int, *, now: dt.datetime | None = None) -> list[WeekFigure]:
    """This week so far (from Monday, local time) against last week up to the same moment, with the
    figures per day from last Monday to today."""
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("Organization not found")
    plan_as_a_report(session)
    now = now or dt.datetime.now(UTC)
    zone = get_zone(org.timezone)
    today = now.astimezone(zone).date()
    monday = today - dt.timedelta(days=today.weekday())
    last_monday = midnight(monday - dt.timedelta(days=7), zone)
    # Last week up to the same weekday and wall-clock time; one microsecond at least (at Monday 00:00 sharp).
    same_moment = max(to_utc(now.astimezone(zone).replace(tzinfo=None) - dt.timedelta(days=7), zone),
                      last_monday + dt.timedelta(microseconds=1))
    days = Range(last_monday, max(now, same_moment), DAY, org.timezone)
    last_week = Range(last_monday, same_moment, DAY, org.timezone)
    built: dict[Callable, tuple[Report, Report]] = {}
    figures = []
    for key, label, build, column in WEEK_FIGURES:
        if build not in built:
            built[build] = (build(session, org, days), build(session, org, last_week))
        daily, before = built[build]
        figures.append(WeekFigure(key, label, this_week=sum(row.values[column] for row in daily.rows
                                                                 if row.bucket.start >= monday),
                                  last_week=before.totals[column],
                                  daily=[row.values[column] for row in daily.rows]))
    return figures
