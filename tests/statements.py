"""Counting the SQL statements a piece of code issues: query budgets as exact tests (TESTING.md)."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

# The per-test transaction joins the app's with savepoints: those are the harness's, not the code's.
HARNESS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


class Statements(list):
    def touching(self, table: str) -> list[str]:
        return [s for s in self if f" {table}" in s or f'"{table}"' in s]


@contextmanager
def counted(engine):
    """The statements run on `engine` inside the block, SAVEPOINT bookkeeping left out."""
    seen = Statements()

    def record(_conn, _cursor, statement, _params, _context, _executemany):
        if not statement.lstrip().upper().startswith(HARNESS):
            seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
