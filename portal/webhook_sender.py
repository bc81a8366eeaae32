"""Sends webhook deliveries over HTTP; `deliver_due` is the worker's delivery round.

Each attempt is three steps, so that no database transaction (and no row lock) stays open
during an HTTP call of up to 10 seconds:
1. claim one due delivery and log the attempt, in a short transaction (webhooks.claim_next);
2. POST the delivery, outside any transaction (`post`);
3. record the answer in another short transaction (webhooks.record_outcome).
A worker killed during step 2 leaves a lease that expires; another worker then sends again.

The POST never follows redirects, ignores proxy settings from the environment, checks the
address each connection actually reached (so DNS cannot point an accepted host name at the
private network later) and ends the whole exchange at the timeout, however slowly the
receiver answers.
"""
from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from .domain import webhooks
from .domain.base import utcnow

USER_AGENT = "Portal-Webhooks/1.0"
EXCERPT_BYTES = 2000


@dataclass(frozen=True)
class Settings:
    timeout: float = 10.0  # seconds for the whole exchange
    lease: float = 60.0  # seconds a claim lasts; must exceed the timeout
    allow_private: bool = False  # receivers on loopback and private networks (tests, intranets)

    @classmethod
    def from_config(cls, config) -> "Settings":
        return cls(timeout=config["WEBHOOK_TIMEOUT_SECONDS"], lease=config["WEBHOOK_LEASE_SECONDS"],
                   allow_private=config["WEBHOOK_ALLOW_PRIVATE_URLS"])


def deliver_due(database, settings: Settings, *, clock: Callable[[], dt.datetime] = utcnow, limit: int = 50,
                send: Callable[..., webhooks.AttemptResult] | None = None) -> int:
    """Make up to `limit` due attempts, one at a time; returns how many were made."""
    send = send or post
    # A claim must outlast the call it covers, or a second worker would send while the first still waits.
    lease = dt.timedelta(seconds=max(settings.lease, settings.timeout + 1))
    made = 0
    while made < limit:
        with database.transaction() as session:
            claim = webhooks.claim_next(session, now=clock(), lease=lease)
        if claim is None:
            break
        result = send(claim, timeout=settings.timeout, allow_private=settings.allow_private)
        with database.transaction() as session:
            webhooks.record_outcome(session, claim, result, now=clock())
        made += 1
    return made


def post(claim: webhooks.Claim, *, timeout: float, allow_private: bool) -> webhooks.AttemptResult:
    """POST the claimed delivery, signed now; never raises."""
    body = claim.body.encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               **webhooks.signature_headers(claim.secret, claim.event_id, int(time.time()), body)}
    started = time.monotonic()
    guard = _Guard(allow_private=allow_private, deadline=started + timeout)

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        with requests.Session() as http:
            http.trust_env = False  # no proxy from the environment: we must reach the address we checked
            http.mount("http://", _GuardedAdapter(guard))
            http.mount("https://", _GuardedAdapter(guard))
            with http.post(claim.url, data=body, headers=headers, timeout=timeout, allow_redirects=False,
                           stream=True) as response:
                excerpt = _excerpt(response)
                return webhooks.AttemptResult(status_code=response.status_code, latency_ms=elapsed_ms(),
                                              response_excerpt=excerpt)
    except Exception as error:  # any failure is an attempt's outcome, to be logged and retried
        return webhooks.AttemptResult(status_code=None, latency_ms=elapsed_ms(),
                                      error=_describe(error, guard, timeout))
    finally:
        guard.stop()


def _excerpt(response: requests.Response) -> str:
    try:
        raw = response.raw.read(EXCERPT_BYTES, decode_content=True) or b""
    except Exception:  # the status line is what counts; a broken body leaves no excerpt
        return ""
    return raw.decode("utf-8", errors="replace")[:webhooks.EXCERPT_CHARS]


def _describe(error: Exception, guard: "_Guard", timeout: float) -> str:
    if guard.refusal:
        return f"Refused: {guard.refusal}"
    if isinstance(error, requests.Timeout) or guard.cut:
        return f"No complete answer within {timeout:g} s"
    if isinstance(error, requests.ConnectionError):
        return f"Could not connect: {error}"
    return f"{type(error).__name__}: {error}"


class _Guard:
    """Admits a connection only to an allowed address, and cuts it at the deadline."""

    def __init__(self, *, allow_private: bool, deadline: float):
        self.allow_private, self.deadline = allow_private, deadline
        self.refusal: str | None = None
        self.cut = False
        self._timers: list[threading.Timer] = []

    def admit(self, sock: socket.socket) -> str | None:
        """None when the peer address is allowed (and the deadline armed), else why not."""
        self.refusal = webhooks.address_refusal(sock.getpeername()[0], allow_private=self.allow_private)
        if self.refusal:
            return self.refusal
        timer = threading.Timer(max(0.0, self.deadline - time.monotonic()), self._cut, (sock,))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)
        return None

    def _cut(self, sock: socket.socket) -> None:
        self.cut = True
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked read in the sending thread
        except OSError:
            pass

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()


def _guarded_pool(pool_class, connection_class, guard: _Guard):
    class GuardedConnection(connection_class):
        def _new_conn(self):
            sock = super()._new_conn()
            refusal = guard.admit(sock)
            if refusal:
                sock.close()
                raise NewConnectionError(self, f"Refused: {refusal}")
            return sock

    return type(f"Guarded{pool_class.__name__}", (pool_class,), {"ConnectionCls": GuardedConnection})


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, guard: _Guard):
        self._pool_classes = {"http": _guarded_pool(HTTPConnectionPool, HTTPConnection, guard),
                              "https": _guarded_pool(HTTPSConnectionPool, HTTPSConnection, guard)}
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes
