"""Pages of results in the seed's envelope: totalCount, page, limit, results."""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, func, literal_column, null, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import ClauseAdapter

from .errors import ValidationFailed

MAX_LIMIT = 100


@dataclass
class Page:
    total: int
    page: int
    limit: int
    items: list[Any]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))


def parse_order(order: str | None, allowed: dict[str, Any], default: str = "createdAt,desc"):
    """'createdAt,desc' -> an ORDER BY clause over the allowed columns."""
    text = order or default
    name, _, direction = text.partition(",")
    direction = (direction or "asc").lower()
    if name not in allowed or direction not in ("asc", "desc"):
        raise ValidationFailed(f"order must be one of {sorted(allowed)} with ,asc or ,desc", field="order")
    column = allowed[name]
    return column.desc() if direction == "desc" else column.asc()


def where_given(stmt: Select, *filters: tuple[Any, Any]) -> Select:
    """`stmt` narrowed by `column == value` for each (column, value) pair whose value was given (not None)."""
    for column, value in filters:
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def within(stmt: Select, column: Any, since: Any = None, until: Any = None) -> Select:
    """`stmt` narrowed to since <= column <= until; a bound that is None is open."""
    if since is not None:
        stmt = stmt.where(column >= since)
    if until is not None:
        stmt = stmt.where(column <= until)
    return stmt


def paginate(session: Session, stmt: Select, *, page: int = 0, limit: int = 10, order=None,
             scalars: bool = True, count_cap: int | None = None) -> Page:
    """One page of `stmt`, and the total as `total_of` gives it."""
    check_page(page, limit)
    counted = stmt.order_by(None)
    if order is not None:
        stmt = stmt.order_by(order)
    stmt = stmt.limit(limit).offset(page * limit)
    items = list(session.scalars(stmt)) if scalars else list(session.execute(stmt))
    total = total_of(session, counted, page=page, limit=limit, found=len(items), count_cap=count_cap)
    return Page(total=total, page=page, limit=limit, items=items)


def _page_keys(stmt: Select, key, order, limit, offset) -> Select:
    """The keys of `stmt`'s page, in its order: picked in a subquery of the primary key column `key` alone, so
    that an index that serves the filter and holds the key (every SQLite index holds the rowid) answers the sort
    alone, and a page of 20 out of a range of 40,000 reads 20 rows instead of 40,000."""
    keys = stmt.with_only_columns(key, maintain_column_froms=True)
    return (keys if order is None else keys.order_by(order)).limit(limit).offset(offset)


def page_within_statement(stmt: Select, owner, *, order, key, count_cap: int | None) -> Select:
    """The statement of `page_within`: `stmt`'s page, its keys picked first (`_page_keys`), the capped count of `stmt`
    (`count_statement`) and whether `owner` holds (a boolean SQL expression: the row the listed rows belong to is
    there, in the caller's organisation), in one statement, so one round trip (columns of
    `stmt` that are scalar subqueries are computed for the page's rows only); `stmt` must require `owner` itself,
    so that nothing is read when it does not. Bind parameters `limit` and `offset` (and `stmt`'s own). Make it once
    per shape: building it costs more than running it.

    It is one row of (owner, capped count) joined to the page's rows, `listed_key` the key of each; an empty page
    is that row alone. The count is always taken (a second round trip to learn whether it is needed would cost
    more): when the page is not full it reads no more index entries than the page itself did, and when it is
    full, at most `count_cap`. With `count_cap` None nothing is counted (the caller knows the set to hold at least
    as many rows as it would count: `page_within`'s `at_least`)."""
    counted = stmt.order_by(None)
    page_keys = _page_keys(counted, key, order, bindparam("limit"), bindparam("offset"))
    # The page's rows by their keys alone: the keys were picked under every condition of `stmt`.
    rows = select(*counted.selected_columns).where(key.in_(page_keys.scalar_subquery())).subquery("listed_page")
    total = (null() if count_cap is None else count_statement(counted, count_cap).scalar_subquery())
    head = select(owner.label("listed_owner"), total.label("listed_total")).subquery("listed_head")
    return (select(head.c.listed_owner, head.c.listed_total, rows.corresponding_column(key).label("listed_key"),
                   *rows.c)
            .select_from(head.outerjoin(rows, true())).order_by(ClauseAdapter(rows).traverse(order)))


def page_within(session: Session, statement: Select, params: dict, *, page: int, limit: int, count_cap: int,
                at_least: int = 0) -> Page | None:
    """Page number `page` of `limit` rows from `statement` (`page_within_statement`, run with `params`) and
    their total as `total_of` gives it (`at_least`: as there); None when the statement's owner does not hold."""
    check_page(page, limit)
    found = session.execute(statement, {**params, "limit": limit, "offset": page * limit}).all()
    if not found or not found[0].listed_owner:
        return None
    items = [row for row in found if row.listed_key is not None]  # an empty page: the head's row alone
    return Page(total=total_of(session, None, page=page, limit=limit, found=len(items), count_cap=count_cap,
                               at_least=at_least, known=found[0].listed_total), page=page, limit=limit, items=items)


def check_page(page: int, limit: int) -> None:
    if page < 0:
        raise ValidationFailed("page must be 0 or more", field="page")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}", field="limit")


def total_of(session: Session, stmt: Select, *, page: int, limit: int, found: int, count_cap: int | None = None,
             counting: Select | None = None, params: dict | None = None, at_least: int = 0,
             known: int | None = None) -> int:
    """How many rows `stmt` selects, given that its page number `page` of `limit` rows held `found` rows. Exact,
    and no query when the page tells it (a page that is not full and not past the end). With `count_cap` at
    most that many are counted: a larger set gives count_cap (for a plain filtered select: no DISTINCT, no
    GROUP BY), and so does a full page that reaches the cap, without a query, or a set the caller knows to have
    `at_least` that many rows. `counting`: the statement `count_statement(stmt, count_cap)` made once
    beforehand, run with `params`. `known`: that count already taken (no query then)."""
    if found < limit and (found or page == 0):
        return page * limit + found
    # An empty page past the end proves nothing about the rows before its offset: only rows found count.
    if count_cap is not None and (at_least >= count_cap or (found and page * limit + found >= count_cap)):
        return count_cap
    if known is not None:
        return known
    return session.scalar(count_statement(stmt, count_cap) if counting is None else counting, params) or 0


class ReachedCaps:
    """The lists (any hashable key naming the list and its filters) seen to match at least their count cap, per
    database (engine, or the connection a test binds its session to): their pages then answer the cap without
    counting (`total_of`'s `at_least`). Exact, not a cache that can go stale, for lists whose rows are never
    deleted and whose filtered columns never change (say so where one is made): a set that held `cap` rows holds
    them for good; and it is learnt from a list, a read, which sees committed rows only. At most `kept` lists per
    database (then forgotten at once, and relearnt)."""

    def __init__(self, kept: int = 10_000) -> None:
        self.kept = kept
        self._seen: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def known(self, session: Session, key) -> bool:
        return key in self._seen.get(session.get_bind(), ())

    def learn(self, session: Session, key, total: int, count_cap: int) -> None:
        if total >= count_cap:
            seen = self._seen.setdefault(session.get_bind(), set())
            if len(seen) >= self.kept:
                seen.clear()
            seen.add(key)


def count_statement(stmt: Select, count_cap: int | None = None) -> Select:
    """The statement that counts the rows of `stmt`, at most `count_cap` of them (see `total_of`)."""
    if count_cap is None:
        return select(func.count()).select_from(stmt.order_by(None).subquery())
    # Only the rows' existence is counted: a LIMITed subquery is not flattened, and selecting whole rows in it
    # would read every row instead of the index.
    rows = stmt.order_by(None).with_only_columns(literal_column("1"), maintain_column_froms=True).limit(count_cap)
    return select(func.count()).select_from(rows.subquery())
