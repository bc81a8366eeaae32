"""Engine and session handling shared by the web app, the CLI, workers and tests.

SQLite: WAL, foreign keys, a busy timeout, and every transaction that may write begins with
BEGIN IMMEDIATE so that read-then-write sequences never fail with SQLITE_BUSY
half way (the pysqlite recipe from the SQLAlchemy documentation). A GET or HEAD request
begins a deferred transaction instead: it takes no write lock, so readers run side by side
and the one write lock is not held while a page renders. Such a request may not write (the
tests refuse it); the few GET views that do are marked `@writes_on_read`. Such a reading request ends
with COMMIT rather than ROLLBACK (the same for a transaction that wrote nothing; on PostgreSQL it keeps
psycopg's prepared statements, which every ROLLBACK discards).
PostgreSQL: READ COMMITTED with conditional updates and row locks in the domain.

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
(and per key and organisation near their limits: throttle.py) so that of
parallel guesses exactly the allowed number reach the check. (A
failed sign-in needs no exception: the view answers with the form's error and
its transaction commits the counted failure as usual.)
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

from flask import current_app, g, has_request_context, request
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
        _watch_writes_when_reading(engine)
        return engine
    # pool_pre_ping: a pooled connection the server dropped (a restart, pg_terminate_backend, a failover) is
    # replaced before use, so one outage costs the requests made during it a 503, not the ones after
    # (portal/__init__.py: database_unavailable; tests/faults/test_database_outages.py).
    # READ COMMITTED stated, not assumed from the server's default: the limits' locks (throttle.py, coupons) rely on
    # each statement reading what committed before it began.
    engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20,
                           isolation_level="READ COMMITTED")
    _watch_writes_when_reading(engine)
    return engine


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



def _watch_writes_when_reading(engine: Engine) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _refuse_writes_when_reading(_connection, _cursor, statement, _parameters, _context, _many):
        if statement.lstrip()[:7].upper().startswith(_WRITES) and _reading_request():  # cheap test first
            # A GET view that writes must say so (@writes_on_read): on SQLite a deferred transaction that writes
            # after another writer committed fails with SQLITE_BUSY_SNAPSHOT, and a reading request's transaction
            # ends with COMMIT (Database.init_app), which must not keep a write nobody declared. The tests refuse
            # it; a server says so in its log, and the request's transaction is rolled back at its end.
            g.reading_request_wrote = True
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
    """A GET or HEAD request not marked `writes_on_read` tried to write (a deferred transaction on SQLite)."""


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

        @app.teardown_request
        def _end_reading_transaction(exc):
            # A reading request (which writes nothing: see `_refuse_writes_when_reading`) ends its transaction with
            # COMMIT instead of the ROLLBACK of `remove()`: the same for a transaction that wrote nothing, but
            # psycopg forgets the statements it has prepared (and how often it saw each) on every ROLLBACK, so
            # PostgreSQL parsed and planned every statement of every GET again (the wallet page's overview:
            # ~0.3 ms of server CPU a request for a plan it then kept, a fifth of the request's CPU). A ROLLBACK TO
            # SAVEPOINT discards them too: keep routine savepoint rollbacks off the hot paths.
            if exc is not None or not _reading_request() or not self.session.registry.has():
                return
            session = self.session()
            if (session.in_transaction() and not g.get("reading_request_wrote")
                    and not (session.new or session.dirty or session.deleted)):
                try:
                    session.commit()
                except Exception:  # the connection may be gone: `remove()` rolls back as before
                    log.warning("ending a reading request's transaction failed", exc_info=True)

        @app.teardown_appcontext
        def _remove_session(exc):
            if exc is not None:
                self.session.rollback()
            self.session.remove()

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
