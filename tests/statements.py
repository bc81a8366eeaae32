"""Counting the SQL statements a piece of code sends: query budgets as exact tests (TESTING.md).

- `counted(engine)`: every statement on the engine inside the block, the per-test harness's SAVEPOINT
  bookkeeping left out (the per-test transaction joins the app's with savepoints: those are not the code's).
- `counting(session)`: the statements the session sends on its connection inside the block, its pending
  flushes included and savepoints counted (they are round trips too): the domain's write budgets.
"""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

HARNESS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


class Statements(list):
    """The statements sent, in order, whitespace folded; `len()` is the budget a test asserts."""

    def touching(self, table: str) -> list[str]:
        return [s for s in self if f" {table}" in s or f'"{table}"' in s]

    def __str__(self) -> str:
        return "\n".join(f"{n:3}. {s[:300]}" for n, s in enumerate(self, 1))


@contextmanager
def _listening(target, keep=lambda statement: True):
    seen = Statements()

    def record(_conn, _cursor, statement, _params, _context, _executemany):
        if keep(statement):
            seen.append(" ".join(statement.split()))

    event.listen(target, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(target, "before_cursor_execute", record)


@contextmanager
def counted(engine):
    """The statements run on `engine` inside the block, SAVEPOINT bookkeeping left out."""
    with _listening(engine, lambda statement: not statement.lstrip().upper().startswith(HARNESS)) as seen:
        yield seen


@contextmanager
def counting(session):
    """The statements the session sends inside the block (the block's pending flushes included, savepoints too)."""
    session.flush()
    with _listening(session.connection()) as seen:
        yield seen
        session.flush()
