"""A pause point for fault tests: the Nth call of a function stops until the test lets it go, so the
test can kill the process (or its database connection) at a known place in the middle of the work.

Nothing in portal/ knows about it: a test process installs it with `install(...)`, and a server or
worker process started by a test gets it from tests/faults/hooked_app.py, which reads
FAULT_PAUSE=<module>.<function>:<n> and FAULT_DIR. When the pause is reached, `<FAULT_DIR>/paused`
is written (JSON: the process id and, on PostgreSQL, the backend pid of the session's connection);
the call then waits for `<FAULT_DIR>/release` (60 s at most) and goes on. The pause fires once per
FAULT_DIR over all processes (the `paused` file says it already did), so a restarted server or
worker does the whole job.
"""
from __future__ import annotations

import importlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, scoped_session

WAIT_SECONDS = 60


def install(target: str, nth: int, directory: Path) -> Callable[[], None]:
    """Pause the `nth` call of `target` ("portal.api.ledgers.transactions_out"), a module attribute; a list
    attribute (`portal.domain.jobs.outbox_consumers`) gets a pausing consumer appended instead.
    Returns the function that takes the pause point out again (for a test that installs it in its own process)."""
    module_name, attribute = target.rsplit(".", 1)
    module = importlib.import_module(module_name)
    original = getattr(module, attribute)
    directory = Path(directory)
    lock, calls = threading.Lock(), [0]

    def reached() -> bool:
        with lock:
            calls[0] += 1
            return calls[0] == nth and not (directory / "paused").exists()

    if isinstance(original, list):
        consumer = lambda *args, **kwargs: _stop_here(args, directory) if reached() else None
        original.append(consumer)
        return lambda: original.remove(consumer)

    def paused(*args, **kwargs):
        if reached():
            _stop_here(args, directory)
        return original(*args, **kwargs)

    setattr(module, attribute, paused)
    return lambda: setattr(module, attribute, original)


def install_from_environment(environ=os.environ) -> None:
    if environ.get("FAULT_PAUSE"):
        target, nth = environ["FAULT_PAUSE"].rsplit(":", 1)
        install(target, int(nth), Path(environ["FAULT_DIR"]))


def _stop_here(args, directory: Path) -> None:
    session = next((a() if isinstance(a, scoped_session) else a for a in args
                    if isinstance(a, (Session, scoped_session))), None)
    info = {"pid": os.getpid(), "backend_pid": None}
    if session is not None and session.get_bind().dialect.name == "postgresql":
        info["backend_pid"] = session.connection().exec_driver_sql("select pg_backend_pid()").scalar()
    tmp = directory / "paused.tmp"
    tmp.write_text(json.dumps(info))
    tmp.rename(directory / "paused")  # whole or absent: the test never reads half a file
    deadline = time.monotonic() + WAIT_SECONDS
    while not (directory / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def wait_for_pause(directory: Path, timeout: float = 60, alive=lambda: None) -> dict:
    """The paused process's JSON once it reached the pause; `alive()` may raise if it died first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = Path(directory) / "paused"
        if path.exists():
            return json.loads(path.read_text())
        alive()
        time.sleep(0.02)
    raise AssertionError(f"the pause point in {directory} was not reached within {timeout} s")


def release(directory: Path) -> None:
    (Path(directory) / "release").touch()
