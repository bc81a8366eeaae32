"""Audit and outbox rows of one piece of work written together: one INSERT per table instead of one per step.

A purchase writes `order.created`, a `ledger.minted` per award and `order.confirmed` to the audit log, and as many
events to the outbox, each step with its own statement. Inside `together(session)` the Core writers
(`audit.record_now`, `audit.record_many`, `outbox.insert_events`) append their rows here instead, and the rows are
inserted at the block's end, one executemany per table, in the order they were added.

Invariants (tests/domain/test_row_buffer.py):
- Nothing is lost or kept wrongly: the rows are written when the block ends, before any commit (`before_commit`,
  also a savepoint's release), before a flush that inserts an ORM row of the same table, and before a savepoint
  begins (outside it); so what is buffered was added since the latest savepoint began, and a rollback, of a
  savepoint or of the transaction, drops all of it.
- Ids follow the order rows were added, ORM rows of the same table included (`outbox.emit`, `audit.record`): an
  ORM row added earlier is flushed before a later row is buffered, and buffered rows are written before a flush
  inserts ORM rows. Webhooks go out in id order per member.
- A statement the session executes that names one of those tables (a read: ORM or Core `select`, through
  `Session.execute`/`scalars`; an UPDATE or DELETE too) sees the rows: they are written before it
  (`_write_before_reading`, a `do_orm_execute` listener: nothing to do, and nothing looked at, while the buffer is
  empty, that is outside a purchase). A statement sent on the connection itself (`session.connection().execute`)
  bypasses the session's events: it does not. Only the purchase path (`orders.record_order`) opens a block.
"""
from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, scoped_session
from sqlalchemy.sql.util import find_tables

_ACTIVE = "portal.rows.together"
_BUFFER = "portal.rows.buffer"  # {insert statement: [rows]}, written in this order
_MODELS: set[type] = set()  # the models whose rows may be buffered


@contextmanager
def together(session: Session):
    """Buffer the audit and outbox rows the block adds, and write them at its end (one statement per table).
    Nested blocks are one. On an error the rows stay buffered: the caller's rollback drops them, a commit writes them
    (as it would have kept rows written at once)."""
    info = session.info
    if info.get(_ACTIVE):
        yield
        return
    info[_ACTIVE] = True
    try:
        yield
    finally:
        info.pop(_ACTIVE, None)
    write(session)


def add(session: Session, model: type, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` of `model` with the Core `statement` now, or at the end of the `together` block around it."""
    if not rows:
        return
    if not session.info.get(_ACTIVE):
        session.execute(statement, rows)
        return
    _MODELS.add(model)
    if isinstance(session, scoped_session):
        session = session()
    if not session.in_transaction():
        session.begin()  # the rows belong to a transaction: its rollback drops them (right after a commit, none yet)
    if session.new and any(isinstance(row, model) for row in session.new):
        session.flush()  # an ORM row of the table added before these keeps the lower id
    session.info.setdefault(_BUFFER, {}).setdefault(statement, []).extend(rows)


def write(session: Session) -> None:
    """Insert what is buffered, one statement per table (nothing when the buffer is empty)."""
    buffer = session.info.pop(_BUFFER, None)
    if not buffer:
        return
    for statement, rows in buffer.items():
        if rows:
            session.execute(statement, rows)


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    if session.info.get(_BUFFER):
        write(session)


@event.listens_for(Session, "do_orm_execute")
def _write_before_reading(state: ORMExecuteState) -> None:
    session = state.session
    if not session.info.get(_BUFFER):
        return
    if not {model.__table__ for model in _MODELS}.isdisjoint(_tables_named(state.statement)):
        write(session)


_TABLES_NAMED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _tables_named(statement: Any) -> frozenset:
    # Found once per statement object: the hot paths' statements are built once, and walking one costs about
    # 0.1 ms (12 % of a purchase when it was walked on every execution). The tables, not the answer, are kept:
    # the models buffered so far may grow.
    try:
        return _TABLES_NAMED[statement]
    except KeyError:
        named = _TABLES_NAMED[statement] = frozenset(find_tables(
            statement, check_columns=True, include_aliases=True, include_joins=True, include_selects=True,
            include_crud=True))
        return named


@event.listens_for(Session, "before_flush")
def _write_before_orm_rows(session: Session, _context, _instances) -> None:
    if session.info.get(_BUFFER) and any(isinstance(row, tuple(_MODELS)) for row in session.new):
        write(session)


@event.listens_for(Session, "after_transaction_create")
def _write_before_a_savepoint(session: Session, transaction) -> None:
    # Rows added before a savepoint are written outside it (on its parent's connection: the SAVEPOINT itself is
    # sent on the savepoint's first statement, after this; the session was flushed just before), so that what is
    # buffered was always added since the latest savepoint began, and any rollback drops all of it.
    buffer = session.info.get(_BUFFER)
    if transaction.nested and buffer:
        del session.info[_BUFFER]
        connection = transaction.parent.connection(None)
        for statement, rows in buffer.items():
            if rows:
                connection.execute(statement, rows)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, _previous_transaction) -> None:
    session.info.pop(_BUFFER, None)  # all added since the latest savepoint began: inside what was rolled back


@event.listens_for(Session, "after_transaction_end")
def _forget_when_the_transaction_ends(session: Session, transaction) -> None:
    if transaction.parent is None:  # commit (written before it), rollback or close
        session.info.pop(_BUFFER, None)
