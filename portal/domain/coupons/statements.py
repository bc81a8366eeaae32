"""The Core statements of the hot path (assigning and using), built once with named parameters.

Building a statement and working out its cache key costs more CPU than running it: these are built once
per process, so SQLAlchemy finds each in its compiled cache and only binds the values. Counters move by
conditional UPDATE ... RETURNING (the new values go back on the caller's ORM objects), so what decides a
limit is always the database row, never a count read first.
"""
from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, func, insert, select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from .books import usable_code
from .models import ASSIGN, ASSIGNED, USED, AccountCoupon, CouponBook, CouponCode, CouponUsage

ACCOUNTS, BOOKS, CODES, USAGES = (AccountCoupon.__table__, CouponBook.__table__, CouponCode.__table__,
                                  CouponUsage.__table__)

# A usage row, every column given (one statement shape); its id comes back.
INSERT_USAGE = insert(USAGES).returning(USAGES.c.id)

# A use of a held coupon: one more use of the member's, the book's and the code's.
ACCOUNT_USED = (update(ACCOUNTS).where(ACCOUNTS.c.id == bindparam("account_id"))
                .values(used_count=ACCOUNTS.c.used_count + 1).returning(ACCOUNTS.c.used_count))
BOOK_USED = (update(BOOKS).where(BOOKS.c.id == bindparam("book_id"))
             .values(used_count=BOOKS.c.used_count + 1).returning(BOOKS.c.used_count, BOOKS.c.updated_at))
CODE_USED = (update(CODES).where(CODES.c.id == bindparam("code_id"))
             .values(used_count=CODES.c.used_count + 1).returning(CODES.c.used_count))
# ... and its assignment moves assigned -> used, once.
ASSIGNMENT_USED = (update(USAGES).where(USAGES.c.id == bindparam("usage_id"), USAGES.c.state == ASSIGNED,
                                        USAGES.c.reverted_at.is_(None))
                   .values(state=USED, used_at=bindparam("now")).returning(USAGES.c.state, USAGES.c.used_at))

# The member's live assignment of a named code (the code as typed or upper-cased), unused ones first.
HELD_CODE = (select(USAGES).join(CODES, CODES.c.id == USAGES.c.code_id)
             .where(USAGES.c.account_coupon_id == bindparam("account_id"), USAGES.c.kind == ASSIGN,
                    USAGES.c.reverted_at.is_(None), CODES.c.code.in_(bindparam("variants", expanding=True)))
             .order_by(USAGES.c.state != ASSIGNED, USAGES.c.id).limit(1))


@cache
def upsert_account(dialect: str):
    """Create the (member, book) row or, when it exists, write it unchanged: either way it comes back, and on
    PostgreSQL the conflict's UPDATE holds its row lock until the transaction ends. On PostgreSQL the row also
    brings back `LOCK_TIMEOUT_AFTER`: its RETURNING, computed once the row is locked, sets the transaction's
    lock_timeout to the `lock_timeout_after` given (the caller's, which a bound for this lock replaced:
    services.lock_account_coupon), so putting the caller's back costs no statement of its own."""
    insert_ = (postgresql if dialect == "postgresql" else sqlite).insert(ACCOUNTS)
    stmt = insert_.on_conflict_do_update(index_elements=[ACCOUNTS.c.book_id, ACCOUNTS.c.member_id],
                                         set_={"used_count": ACCOUNTS.c.used_count})
    if dialect != "postgresql":
        return stmt.returning(*ACCOUNTS.c)
    return stmt.returning(*ACCOUNTS.c, func.set_config("lock_timeout", bindparam("lock_timeout_after"), True)
                          .label(LOCK_TIMEOUT_AFTER))


LOCK_TIMEOUT_AFTER = "lock_timeout_after"


@cache
def account_assigned(*, limited: bool, used: bool):
    """One more assignment (and use) of the member's: `max_per_member` decides when `limited`."""
    stmt = update(ACCOUNTS).where(ACCOUNTS.c.id == bindparam("account_id"))
    if limited:
        stmt = stmt.where(ACCOUNTS.c.assigned_count < bindparam("max_per_member"))
    values = {"assigned_count": ACCOUNTS.c.assigned_count + 1}
    if used:
        values["used_count"] = ACCOUNTS.c.used_count + 1
    return stmt.values(values).returning(ACCOUNTS.c.assigned_count, ACCOUNTS.c.used_count)


@cache
def book_assigned(*, used: bool):
    """One more assignment (and use) of the book's, within its maxCouponCount."""
    values = {"assigned_count": BOOKS.c.assigned_count + 1}
    if used:
        values["used_count"] = BOOKS.c.used_count + 1
    return (update(BOOKS).where(BOOKS.c.id == bindparam("book_id"),
                                BOOKS.c.max_coupon_count.is_(None) | (BOOKS.c.assigned_count < BOOKS.c.max_coupon_count))
            .values(values).returning(BOOKS.c.assigned_count, BOOKS.c.used_count, BOOKS.c.updated_at))


def _room(limited: bool):
    """A code that can be handed out at `now`: active, not past its end, and (when `limited`) held fewer
    than `max_per_code` times."""
    return usable_code(bindparam("now")) & (CODES.c.assigned_count < bindparam("max_per_code") if limited else true())


@cache
def take_code(*, named: bool, limited: bool, used: bool):
    """Hand out a code (and count it used): the named one (`variants`, `typed` preferred) or `code_id`, if
    it has room; its id and text come back, or no row."""
    if named:
        which = (select(CODES.c.id).where(CODES.c.book_id == bindparam("of_book"),
                                          CODES.c.code.in_(bindparam("variants", expanding=True)))
                 .order_by(CODES.c.code != bindparam("typed")).limit(1).scalar_subquery())
    else:
        which = bindparam("code_id")
    values = {"assigned_count": CODES.c.assigned_count + 1}
    if used:
        values["used_count"] = CODES.c.used_count + 1
    return (update(CODES).where(CODES.c.id == which, _room(limited)).values(values)
            .returning(CODES.c.id, CODES.c.code))


@cache
def free_code(*, limited: bool, skip_locked: bool):
    """The oldest code of `of_book` with room."""
    stmt = select(CODES.c.id).where(CODES.c.book_id == bindparam("of_book"), _room(limited)).order_by(CODES.c.id).limit(1)
    return stmt.with_for_update(skip_locked=True) if skip_locked else stmt
