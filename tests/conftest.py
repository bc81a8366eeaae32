"""Fixtures: an app per database backend, a rolled-back transaction per test,
factories, an API client with a bearer token, and a live server for
concurrency and browser tests.

Backends: SQLite and PostgreSQL, which TEST_PG_URL points at (make test starts
a throwaway server). Without TEST_PG_URL the run stops with an error rather
than quietly dropping PostgreSQL, the only backend on which requests overlap
and a broken limit shows. Running on SQLite alone is an explicit choice:
SQLITE_ONLY=1 (what `make test SQLITE_ONLY=1` sets) or PORTAL_TEST_DBS=sqlite.
"""
from __future__ import annotations

import os
import threading
import uuid

import pytest
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from config import TestConfig
from portal import create_app
from portal.db import make_engine
from portal.domain.models import metadata
from portal.extensions import db

from . import factories

PG_URL = os.environ.get("TEST_PG_URL", "")
SQLITE_ONLY = os.environ.get("SQLITE_ONLY", "") == "1"
_wanted = "sqlite" if SQLITE_ONLY else os.environ.get("PORTAL_TEST_DBS", "sqlite,postgresql")
BACKENDS = [b for b in ("sqlite", "postgresql") if b in _wanted.split(",")]


def pytest_configure(config):
    if "postgresql" in BACKENDS and not PG_URL:
        raise pytest.UsageError(
            "TEST_PG_URL is unset, so the PostgreSQL half of the suite cannot run. Run `make test` (it starts a "
            "throwaway server), point TEST_PG_URL at one, or choose SQLite alone explicitly with SQLITE_ONLY=1 "
            "(or PORTAL_TEST_DBS=sqlite).")
    if not BACKENDS:
        raise pytest.UsageError(f"PORTAL_TEST_DBS={_wanted!r} names no backend: use sqlite, postgresql or both")


def pytest_report_header(config):
    skipped = "" if "postgresql" in BACKENDS else " (PostgreSQL skipped on request: SQLITE_ONLY / PORTAL_TEST_DBS)"
    return f"database backends: {', '.join(BACKENDS)}{skipped}"


def pytest_terminal_summary(terminalreporter):
    if "postgresql" not in BACKENDS:
        terminalreporter.write_line("PostgreSQL was skipped on request: the concurrency limits were not checked "
                                    "where requests overlap.", yellow=True, bold=True)


_made_databases: list[str] = []  # PostgreSQL databases this run made, dropped when it ends


def fresh_database_url(backend: str, tmp_dir, name: str) -> str:
    """An empty database of the backend: a new SQLite file, or a new PostgreSQL database (dropped at the end of
    the run, so a long-lived server shared by many runs does not fill up)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_dir / (name + '.db')}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    _made_databases.append(name)
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def pytest_unconfigure(config):
    if not _made_databases:
        return
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in _made_databases:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def engine(backend, tmp_path_factory):
    url = fresh_database_url(backend, tmp_path_factory.mktemp("db"), f"portal_test_{os.getpid()}")
    eng = make_engine(url)
    metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def app(engine):
    class Config(TestConfig):
        DATABASE_URL = engine.url.render_as_string(hide_password=False)

    application = create_app(Config)
    application.extensions["portal_db"].engine.dispose()
    return application


@pytest.fixture
def session(app, engine):
    """A session inside a transaction that is rolled back after the test.

    The app's scoped session joins it with savepoints, so views may commit.
    """
    connection = engine.connect()
    outer = connection.begin()
    db.session.remove()
    db.session_factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    ctx = app.app_context()
    ctx.push()
    yield db.session
    db.session.remove()
    ctx.pop()
    outer.rollback()
    connection.close()
    db.session_factory.configure(bind=app.extensions["portal_db"].engine, join_transaction_mode="conditional_savepoint")


@pytest.fixture
def client(app, session):
    return app.test_client()


@pytest.fixture
def org(session):
    return factories.make_org(session)


@pytest.fixture
def other_org(session):
    return factories.make_org(session, name="Other Org")


class Api:
    """Calls /api/v1/organizations/{org}/... with a bearer token; returns (status, json)."""

    def __init__(self, client, org, token=None):
        self.client, self.org, self.token = client, org, token or org.api_key

    def url(self, path: str) -> str:
        return path if path.startswith("/api/") else f"/api/v1/organizations/{self.org.id}{path}"

    def request(self, method: str, path: str, json=None, token: str | None = None, headers=None, **kwargs):
        # Commit the test's set-up first: a refused request rolls the shared session back, and must not take
        # the organisation and key created a moment before with it.
        db.session.commit()
        hdrs = {"Authorization": f"Bearer {token or self.token}"} if (token or self.token) else {}
        hdrs.update(headers or {})
        response = self.client.open(self.url(path), method=method, json=json, headers=hdrs, **kwargs)
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.request("PATCH", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.request("PUT", path, json=json, **kw)

    def as_(self, token):
        return Api(self.client, self.org, token)


@pytest.fixture
def api(client, org):
    return Api(client, org)


# --- live server ------------------------------------------------------------------

class LiveServer:
    def __init__(self, app, url_prefix):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_app(backend, tmp_path):
    """An app on its own freshly migrated database, where commits are real."""
    url = fresh_database_url(backend, tmp_path, f"portal_live_{uuid.uuid4().hex[:8]}")
    eng = make_engine(url)
    metadata.create_all(eng)
    eng.dispose()

    class Config(TestConfig):
        DATABASE_URL = url

    db.session.remove()
    application = create_app(Config)
    db.session_factory.configure(join_transaction_mode="conditional_savepoint")
    yield application
    db.session.remove()
    application.extensions["portal_db"].engine.dispose()


@pytest.fixture
def live_server(live_app):
    server = LiveServer(live_app, "").start()
    yield server
    server.stop()
