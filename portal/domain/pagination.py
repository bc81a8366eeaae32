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
    """One page of `stmt`. The total is exact, and costs no query when the page itself tells it (a page that
    is not full and not past the end). With `count_cap` at most that many matches are counted: a larger set
    gives total = count_cap (for a plain filtered select: no DISTINCT, no GROUP BY).

    With `key` (the primary key column of the one table `stmt` selects from) the page's keys are picked in a
    subquery of that column alone and only their rows are read, in the same statement: an index that serves
    the filter and holds the key (every SQLite index holds the rowid) then answers the sort alone, and a page
    of 20 out of a range of 40,000 reads 20 rows instead of 40,000. Columns of `stmt` that are scalar
    subqueries are computed for the page's rows only."""
    if page < 0:
        raise ValidationFailed("page must be 0 or more", field="page")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
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
    if len(items) < limit and (items or page == 0):
        total = page * limit + len(items)
    else:
        if count_cap is not None:
            # Only the rows' existence is counted: a LIMITed subquery is not flattened, and selecting whole rows
            # in it would read every row instead of the index.
            counted = counted.with_only_columns(literal_column("1"), maintain_column_froms=True).limit(count_cap)
        total = session.scalar(select(func.count()).select_from(counted.subquery())) or 0
    return Page(total=total, page=page, limit=limit, items=items)
