"""Counting the SQL statements a piece of code sends: the query budgets of the hot paths.

`counting(session)` listens on the session's connection (`before_cursor_execute`) and collects every statement,
savepoints included (they are round trips too), so a test can assert an exact number and, when it fails, print
the statements that were sent.
"""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event


class Statements(list):
    """The statements sent, in order; `len()` is the budget a test asserts."""

    def __str__(self) -> str:
        return "\n".join(f"{n:3}. {' '.join(s.split())[:300]}" for n, s in enumerate(self, 1))


@contextmanager
def counting(session):
    """Collect the statements the session sends inside the block (the block's pending flushes included)."""
    session.flush()
    connection = session.connection()
    statements = Statements()

    def collect(_conn, _cursor, statement, _params, _context, _executemany):
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", collect)
    try:
        yield statements
        session.flush()
    finally:
        event.remove(connection, "before_cursor_execute", collect)
