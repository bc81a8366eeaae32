"""Engine and session handling shared by the web app, the CLI, workers and tests.

SQLite: WAL, foreign keys, a busy timeout, and every transaction that may write begins with
BEGIN IMMEDIATE so that read-then-write sequences never fail with SQLITE_BUSY
half way (the pysqlite recipe from the SQLAlchemy documentation). A GET or HEAD request
begins a deferred transaction instead: it takes no write lock, so readers run side by side
and the one write lock is not held while a page renders. Such a request may not write (the
tests refuse it); the few GET views that do are marked `@writes_on_read`.
PostgreSQL: READ COMMITTED with conditional updates and row locks in the domain. A reading request
(GET or HEAD, not `@writes_on_read`) ends with COMMIT rather than ROLLBACK, so that psycopg keeps the
statements it prepared (`Database.end_read`).

The unit of work, the same for every face:
- One request (or one CLI command, one worker job batch) is one transaction,
  committed once at the edge; any error rolls all of it back. The domain only
  flushes and never commits.
- API: the `endpoint` decorator in `api/core.py` commits after a writing handler
  returns. Handlers never commit.
- Console and member portal: a view runs its domain calls inside
  `with db.transaction():`, or through the form-submit helper built on it
  (`portal/forms.py: submit`), which also puts a domain error on its form field.
  Views never call `session.commit()` themselves.
- CLI commands and worker jobs: `with db.transaction():` per command or batch.

The exception, here: a refusal that must be remembered although the request
fails while the request still holds the locks it took first (a wrong coupon
code counted by the throttle). `Database.attempt_or_record` runs the work in a
savepoint and, on a refusal, undoes only the savepoint and commits the refusal
with those locks held: the API's coupon code attempts, serialised per member
so that of parallel guesses exactly the allowed number reach the check. (A
failed sign-in needs no exception: the view answers with the form's error and
its transaction commits the counted failure as usual.)
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

from flask import current_app, has_request_context, request
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool

log = logging.getLogger(__name__)


def make_engine(url: str, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if in_memory else None,
        )
        _sqlite_recipe(engine, in_memory)
        return engine
    # pool_pre_ping: a pooled connection the server dropped (a restart, pg_terminate_backend, a failover) is
    # replaced before use, so one outage costs the requests made during it a 503, not the ones after
    # (portal/__init__.py: database_unavailable; tests/faults/test_database_outages.py).
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_recipe(engine: Engine, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # A request that only reads takes no write lock: WAL readers never wait for each other or for the
        # writer, and the one write lock is not held while a page is serialised or rendered.
        connection.exec_driver_sql("BEGIN" if _reading_request() else "BEGIN IMMEDIATE")

    @event.listens_for(engine, "before_cursor_execute")
    def _refuse_writes_when_reading(_connection, _cursor, statement, _parameters, _context, _many):
        if statement.lstrip()[:7].upper().startswith(_WRITES) and _reading_request():  # cheap test first
            # A deferred transaction that writes after another writer committed fails with SQLITE_BUSY_SNAPSHOT:
            # a GET view that writes must say so (@writes_on_read) and take the write lock from its first statement.
            # The tests refuse it; a server says so in its log and goes on (the write succeeds unless it races).
            found = f"{request.endpoint}: {request.method} {request.path} wrote: {statement[:80]}"
            if current_app.testing:
                raise ReadOnlyRequestWrote(found)
            log.warning("a reading request writes; mark its view @db.writes_on_read: %s", found)


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def writes_on_read(view):
    """Marks a GET view that writes (a throttle's count, a code issued at once): its transaction begins with
    BEGIN IMMEDIATE like every other method's. Put it under the route decorator."""
    view.writes_on_read = True
    return view


class ReadOnlyRequestWrote(RuntimeError):
    """A GET or HEAD request, which runs in a deferred SQLite transaction, tried to write."""


def _reading_request() -> bool:
    return (has_request_context() and request.method in ("GET", "HEAD")
            and not getattr(current_app.view_functions.get(request.endpoint), "writes_on_read", False))


class Database:
    """Holds the engine and a session scoped to the current thread/app context."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session_factory = sessionmaker(expire_on_commit=False)
        self.session = scoped_session(self.session_factory)

    def init_app(self, app) -> None:
        self.engine = make_engine(app.config["DATABASE_URL"], echo=app.config.get("SQL_ECHO", False))
        self.session_factory.configure(bind=self.engine)
        app.extensions["portal_db"] = self

        if self.engine.dialect.driver == "psycopg":  # see end_read (on SQLite a COMMIT costs more than the rollback)
            @app.teardown_request
            def _end_reading_request(exc):
                if exc is None and self.session.registry.has() and _reading_request():
                    self.end_read(self.session())

        @app.teardown_appcontext
        def _remove_session(exc):
            if exc is not None:
                self.session.rollback()
            self.session.remove()

    def end_read(self, session: Session) -> None:
        """On PostgreSQL (psycopg) a reading request's transaction (a GET or HEAD not marked `writes_on_read`) ends
        with COMMIT, not ROLLBACK. It wrote nothing (on SQLite such a write is refused: `ReadOnlyRequestWrote`),
        so the two are the same to the database; but psycopg forgets the statements it prepared on a connection
        at every ROLLBACK and counts their uses from zero again (it prepares a statement at its fifth use), so a
        server answering reads would parse and plan each statement anew on every request: about 250 µs of the
        server's CPU for a member read instead of about 70 (issue 11). A request that failed has rolled back
        already: nothing to end."""
        if not session.in_transaction():
            return
        try:
            session.commit()
        except Exception:  # the connection went away after the last read: the answer stands, nothing to keep
            log.warning("ending a reading request's transaction failed", exc_info=True)
            session.rollback()

    @contextmanager
    def transaction(self):
        """One unit of work: commit on success, roll back on any error."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    def attempt_or_record(self, attempt, refused: type[Exception] | tuple[type[Exception], ...], record):
        """`attempt()` in a savepoint; on `refused`, undo the savepoint only, commit `record(session)` with the
        locks the request holds, and raise again (see the module docstring)."""
        session = self.session()
        try:
            with session.begin_nested():
                return attempt()
        except refused:
            record(session)
            session.commit()
            raise


def new_session(engine: Engine) -> Session:
    return Session(bind=engine, expire_on_commit=False)
