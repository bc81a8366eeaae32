"""On PostgreSQL a reading request (GET or HEAD, not @db.writes_on_read) ends its transaction with COMMIT: it wrote
nothing, and psycopg forgets the statements it prepared on a connection at every ROLLBACK, so with rollbacks a
server answering reads would plan every statement anew on every request (portal/db.py: `Database.end_read`). The
suite's own requests run inside the session fixture's transaction: this test gives the app a database of its own."""
from __future__ import annotations

import pytest
from sqlalchemy import event


def test_reads_end_with_commit_and_keep_their_prepared_statements(live_app, backend):
    if backend != "postgresql":
        pytest.skip("psycopg's prepared statements")
    engine = live_app.extensions["portal_db"].engine
    ends: list[str] = []
    event.listen(engine, "commit", lambda _conn: ends.append("commit"))
    event.listen(engine, "rollback", lambda _conn: ends.append("rollback"))
    client = live_app.test_client()
    for _ in range(7):  # psycopg prepares a statement at its fifth use on a connection
        assert client.get("/login").status_code == 200
    assert ends == ["commit"] * 7
    with engine.connect() as connection:  # the one pooled connection the requests used
        prepared = connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
    assert any("organizations" in statement for statement in prepared), prepared

    ends.clear()
    assert client.post("/login", data={"email": "nobody@example.com", "password": "wrong"}).status_code == 400
    assert ends == ["rollback"]  # a refused form (no CSRF token) writes nothing and keeps nothing
