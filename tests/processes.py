"""Real server processes for the several-servers and fault tests: gunicorn app servers and
`flask worker`s, each in its own process group, all ended by stop() whatever happened.

Use through a fixture that calls stop() in its teardown, so that a failing test leaves no process:

    @pytest.fixture
    def processes(tmp_path):
        group = Processes(tmp_path)
        yield group
        group.stop()
"""
from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.mailsink import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START_SECONDS = 60  # an app server answers /healthz within this (imports take a few seconds on a busy machine)


class Processes:
    """Started processes, their logs under `directory`; stop() kills every process group."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.started: list[tuple[str, subprocess.Popen, Path]] = []

    def env(self, database_url: str, **extra: str) -> dict:
        """What every server and worker of one installation shares (README: several app servers)."""
        instance = self.directory / "instance"
        instance.mkdir(exist_ok=True)
        return {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "shared-by-every-server",
                "PORTAL_INSTANCE_DIR": str(instance), "TRUSTED_HOSTS": "127.0.0.1,localhost",
                "PORTAL_WEBHOOK_ALLOW_PRIVATE_URLS": "1", "PORTAL_WEBHOOK_TIMEOUT_SECONDS": "5",
                "PORTAL_WEBHOOK_LEASE_SECONDS": "6", "PYTHONPATH": str(ROOT), **extra}

    def start(self, name: str, command: list[str], env: dict) -> subprocess.Popen:
        log = self.directory / f"{name}.log"
        handle = log.open("w")
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group: stop() ends its children too
        handle.close()
        self.started.append((name, proc, log))
        return proc

    def gunicorn(self, name: str, env: dict, app: str = "app:app", workers: int = 2, threads: int = 4,
                 wait: bool = True) -> str:
        """An app server on a free loopback port, answering /healthz unless `wait` is off; returns its base URL."""
        port = free_port()
        command = [str(BIN / "gunicorn"), "--workers", str(workers), "--threads", str(threads),
                   "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--graceful-timeout", "5",
                   *_no_control_socket(), app]
        self.start(name, command, env)
        url = f"http://127.0.0.1:{port}"
        if wait:
            self.wait_until_up(url, name)
        return url

    def worker(self, name: str, env: dict, app: str = "app", interval: float = 0.5) -> subprocess.Popen:
        return self.start(name, [sys.executable, "-m", "flask", "--app", app, "worker", "--interval", str(interval)],
                          env)

    def wait_until_up(self, url: str, name: str, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if requests.get(url + "/healthz", timeout=10).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still importing
                pass
            time.sleep(0.2)
        raise AssertionError(f"{name} did not answer /healthz within {timeout} s:\n{self.log_of(name)}")

    def check_alive(self) -> None:
        for name, proc, log in self.started:
            if proc.poll() is not None and proc.returncode not in (0, -signal.SIGKILL, -signal.SIGTERM):
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")

    def log_of(self, name: str) -> str:
        return next((log.read_text()[-3000:] for n, _, log in self.started if n == name), "")

    def stop_one(self, proc: subprocess.Popen, timeout: float = 15) -> None:
        """SIGTERM to its process group, SIGKILL after `timeout`."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        # A killed master can leave its workers behind in the group: end them too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        for _, proc, _ in self.started:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _, proc, _ in self.started:
            self.stop_one(proc)
        self.started.clear()


@functools.cache
def _no_control_socket() -> list[str]:
    """gunicorn 24+ opens a control socket at one fixed path; two masters would share it."""
    help_text = subprocess.run([str(BIN / "gunicorn"), "--help"], check=False, capture_output=True,
                               text=True).stdout
    return ["--no-control-socket"] if "--no-control-socket" in help_text else []
