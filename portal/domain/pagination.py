"""Pages of results in the seed's envelope: totalCount, page, limit, results."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.orm import Session

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
             scalars: bool = True, count_cap: int | None = None, key=None) -> Page:
    """One page of `stmt`, and the total as `total_of` gives it.

    With `key` (the primary key column of the one table `stmt` selects from) the page's keys are picked in a
    subquery of that column alone and only their rows are read, in the same statement: an index that serves
    the filter and holds the key (every SQLite index holds the rowid) then answers the sort alone, and a page
    of 20 out of a range of 40,000 reads 20 rows instead of 40,000. Columns of `stmt` that are scalar
    subqueries are computed for the page's rows only."""
    check_page(page, limit)
    counted = stmt.order_by(None)
    if key is not None:
        page_keys = counted.with_only_columns(key, maintain_column_froms=True)
        if order is not None:
            page_keys = page_keys.order_by(order)
        stmt = counted.where(key.in_(page_keys.limit(limit).offset(page * limit).scalar_subquery()))
        if order is not None:
            stmt = stmt.order_by(order)
    else:
        if order is not None:
            stmt = stmt.order_by(order)
        stmt = stmt.limit(limit).offset(page * limit)
    items = list(session.scalars(stmt)) if scalars else list(session.execute(stmt))
    total = total_of(session, counted, page=page, limit=limit, found=len(items), count_cap=count_cap)
    return Page(total=total, page=page, limit=limit, items=items)


def check_page(page: int, limit: int) -> None:
    if page < 0:
        raise ValidationFailed("page must be 0 or more", field="page")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}", field="limit")


def total_of(session: Session, stmt: Select, *, page: int, limit: int, found: int, count_cap: int | None = None,
             counting: Select | None = None, params: dict | None = None) -> int:
    """How many rows `stmt` selects, given that its page number `page` of `limit` rows held `found` rows. Exact,
    and no query when the page tells it (a page that is not full and not past the end). With `count_cap` at
    most that many are counted: a larger set gives count_cap (for a plain filtered select: no DISTINCT, no
    GROUP BY), and so does a full page that reaches the cap, without a query. `counting`: the statement
    `count_statement(stmt, count_cap)` made once beforehand, run with `params`."""
    if found < limit and (found or page == 0):
        return page * limit + found
    if count_cap is not None and page * limit + found >= count_cap:
        return count_cap
    return session.scalar(count_statement(stmt, count_cap) if counting is None else counting, params) or 0


def count_statement(stmt: Select, count_cap: int | None = None) -> Select:
    """The statement that counts the rows of `stmt`, at most `count_cap` of them (see `total_of`)."""
    if count_cap is None:
        return select(func.count()).select_from(stmt.order_by(None).subquery())
    # Only the rows' existence is counted: a LIMITed subquery is not flattened, and selecting whole rows in it
    # would read every row instead of the index.
    rows = stmt.order_by(None).with_only_columns(literal_column("1"), maintain_column_froms=True).limit(count_cap)
    return select(func.count()).select_from(rows.subquery())
