"""A reading request (GET or HEAD, not @db.writes_on_read) ends its transaction with COMMIT rather than ROLLBACK
(portal/db.py): the same for a transaction that wrote nothing, and psycopg forgets the statements it prepared on
every ROLLBACK, so on PostgreSQL each GET parsed and planned its statements again. A request whose ORM objects
were changed, or that failed, is still rolled back. The app has a database of its own: the suite's requests run
inside the session fixture's transaction, begun outside them."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, func, insert, select, text, update

from config import TestConfig
from portal import create_app
from portal.domain.models import metadata
from portal.domain.organizations import Organization
from portal.extensions import db

from ..conftest import fresh_database_url

COUNT = select(func.count()).select_from(Organization)


@pytest.fixture
def own_app(backend, tmp_path):
    class Config(TestConfig):
        DATABASE_URL = fresh_database_url(backend, tmp_path, f"portal_reads_{uuid.uuid4().hex[:8]}")
        WTF_CSRF_ENABLED = False

    app = create_app(Config)
    engine = app.extensions["portal_db"].engine
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(Organization.__table__).values(id=1, name="Before", locales=["en"]))

    @app.get("/_test/read")
    def read():
        return str(db.session.scalar(COUNT))

    @app.get("/_test/changes-an-object")
    def changes_an_object():
        db.session.get(Organization, 1).name = "Changed by a GET"  # a bug a reading request must not keep
        return "changed"

    @app.get("/_test/writes-by-core")
    def writes_by_core():
        db.session.execute(update(Organization.__table__).where(Organization.id == 1).values(name="Written by a GET"))
        return "wrote"

    @app.post("/_test/read")
    def read_by_post():
        return str(db.session.scalar(COUNT))

    ended: list[str] = []
    event.listen(engine, "commit", lambda _conn: ended.append("COMMIT"))
    event.listen(engine, "rollback", lambda _conn: ended.append("ROLLBACK"))
    yield app, engine, ended
    engine.dispose()


def test_a_get_commits_its_reading_transaction_and_keeps_a_changed_object_unwritten(own_app):
    app, engine, ended = own_app
    client = app.test_client()
    assert client.get("/_test/read").get_data(as_text=True) == "1"
    assert ended == ["COMMIT"]
    ended.clear()
    assert client.post("/_test/read").status_code == 200  # not a reading request: rolled back as before
    assert ended == ["ROLLBACK"]
    ended.clear()
    assert client.get("/_test/changes-an-object").status_code == 200
    assert ended == ["ROLLBACK"]
    with engine.connect() as conn:
        assert conn.scalar(select(Organization.name).where(Organization.id == 1)) == "Before"
    ended.clear()
    assert client.get("/login").status_code == 200  # a real page: reads the organisation
    assert ended == ["COMMIT"]


def test_postgresql_keeps_a_reading_statement_prepared_across_requests(own_app, backend):
    if backend != "postgresql":
        pytest.skip("psycopg's prepared statements")
    app, engine, _ended = own_app
    client = app.test_client()
    for _ in range(7):  # psycopg prepares a statement the sixth time a connection runs it (prepare_threshold 5)
        assert client.get("/_test/read").get_data(as_text=True) == "1"
    assert engine.pool.checkedin() == 1  # one connection ran them all: the one asked below
    with engine.connect() as conn:
        prepared = conn.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
    assert any("count(*)" in statement and "organizations" in statement for statement in prepared), prepared


def test_an_undeclared_write_in_a_get_is_refused_in_tests_and_rolled_back_on_a_server(own_app, caplog):
    app, engine, ended = own_app
    client = app.test_client()
    assert client.get("/_test/writes-by-core").status_code == 500  # the suite refuses it (ReadOnlyRequestWrote)
    app.testing = False  # a server: logged, answered, and not kept
    ended.clear()
    assert client.get("/_test/writes-by-core").get_data(as_text=True) == "wrote"
    assert ended == ["ROLLBACK"] and "mark its view @db.writes_on_read" in caplog.text
    with engine.connect() as conn:
        assert conn.scalar(select(Organization.name).where(Organization.id == 1)) == "Before"
