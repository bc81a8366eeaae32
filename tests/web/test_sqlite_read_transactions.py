"""On SQLite a GET or HEAD request reads in a deferred transaction (no write lock), and every other request, or a
GET view marked @db.writes_on_read, begins with BEGIN IMMEDIATE (portal/db.py). The suite's own requests run
inside the session fixture's transaction, begun outside any request: this test gives the app a database of its
own so that each request begins its transaction itself."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from config import TestConfig
from portal import create_app
from portal.domain.models import metadata

from ..conftest import BACKENDS

pytestmark = pytest.mark.skipif("sqlite" not in BACKENDS, reason="SQLite's transaction modes")


def test_a_get_reads_deferred_and_a_post_takes_the_write_lock(tmp_path):
    class Config(TestConfig):
        DATABASE_URL = f"sqlite:///{tmp_path / 'reads.db'}"
        WTF_CSRF_ENABLED = False

    app = create_app(Config)
    engine = app.extensions["portal_db"].engine
    metadata.create_all(engine)
    begun: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_: begun.append(sql) if sql.startswith("BEGIN") else None)
    client = app.test_client()

    def begins(method: str, path: str, **kwargs) -> list[str]:
        begun.clear()
        client.open(path, method=method, **kwargs)
        return list(begun)

    assert begins("GET", "/login") == ["BEGIN"]  # the page reads the organisation: no write lock
    assert begins("POST", "/login", data={"email": "nobody@example.com", "password": "wrong"}) == ["BEGIN IMMEDIATE"]
    assert begins("GET", "/join/NO-SUCH-CODE") == ["BEGIN IMMEDIATE"]  # @db.writes_on_read: counts the attempt
    engine.dispose()
