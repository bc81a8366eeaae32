"""Fixtures of the fault tests: processes ended whatever happens, a pause point's folder."""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from config import TestConfig
from portal import create_app
from portal.db import make_engine
from portal.domain.models import metadata
from portal.extensions import db
from tests.conftest import LiveServer
from tests.processes import Processes, free_port


@pytest.fixture
def processes(tmp_path):
    group = Processes(tmp_path)
    yield group
    group.stop()


@pytest.fixture
def pause_dir(tmp_path):
    directory = tmp_path / "pause"
    directory.mkdir()
    return directory


@pytest.fixture
def app_on():
    """app_on(url, create=True, **settings) -> (app, live server) on that database, with its tables created
    unless create=False. The app's engine becomes the one the test's `db` uses (as with live_app); one at a
    time. Everything is stopped and disposed after the test."""
    made = []

    def make(url: str, create: bool = True, **settings):
        if create:
            engine = make_engine(url)
            metadata.create_all(engine)
            engine.dispose()
        config = type("Config", (TestConfig,), {"DATABASE_URL": url, **settings})
        db.session.remove()
        application = create_app(config)
        db.session_factory.configure(join_transaction_mode="conditional_savepoint")
        server = LiveServer(application, "").start()
        made.append((application, server))
        return application, server

    yield make
    for application, server in made:
        server.stop()
        db.session.remove()
        application.extensions["portal_db"].engine.dispose()


class OwnPostgres:
    """A throwaway PostgreSQL cluster of this test alone, on a free port: it may be stopped and restarted
    (never the shared test server). As root, through runuser, like scripts/test-pg.sh."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in re.findall(r"\d+", p)])
        if not bins or os.geteuid() != 0 or not shutil.which("runuser"):
            pytest.skip("a PostgreSQL of the test's own needs Debian's postgresql and root (runuser)")
        self.bin = Path(bins[-1])
        self.data = Path(tempfile.mkdtemp(prefix="portal-fault-pg-"))
        shutil.chown(self.data, "postgres", "postgres")
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def create(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / tool), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-l", str(self.data / "log"), "start", "-o",
                  f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", mode, "stop")

    def remove(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "stop"], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture
def own_postgres():
    server = OwnPostgres()
    try:
        server.create()
        server.start()
        yield server
    finally:
        server.remove()
