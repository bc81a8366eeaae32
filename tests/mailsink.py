"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

`smtp_sink` (session) runs the server; `mail_sink` (per test) empties it and
points the app's MAIL_SERVER/MAIL_PORT at it. Mail goes out through the worker
(portal/mail.py): `mail_sink.deliver()` runs the worker's mail step
(`worker.send_mail_now`: drain the outbox, send what is due), and `to(address)`
and `wait_for(address)` run it first, so a test reads what a worker would have
sent by now. `refuse(n)` makes the server answer the next n messages with a
temporary error (451).
"""
from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

URL = re.compile(r"https?://[^\s<>\"']+")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()

    @property
    def links(self) -> list[str]:
        return URL.findall(self.text)


class MailSink:
    def __init__(self):
        self.messages: list[Received] = []
        self._changed = threading.Condition()
        self.deliverer = None  # set by the fixtures: runs the worker's mail step
        self.refusals = 0
        self.refused = 0

    def deliver(self) -> None:
        if self.deliverer is not None:
            self.deliverer()

    def refuse(self, count: int) -> None:
        """Answer the next `count` messages with 451 (try again later)."""
        with self._changed:
            self.refusals = count

    async def handle_DATA(self, server, session, envelope):
        with self._changed:
            if self.refusals > 0:
                self.refusals -= 1
                self.refused += 1
                return "451 Requested action aborted: try again later"
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self._changed:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self._changed:
            self.messages.clear()
            self.refusals = self.refused = 0

    def to(self, address: str) -> list[Received]:
        self.deliver()
        with self._changed:
            return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            self.deliver()
            with self._changed:
                found = [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no mail for {address} within {timeout}s; got {[m.rcpt_tos for m in self.messages]}")
                self._changed.wait(min(left, 0.2))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_sink():
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


@pytest.fixture
def mail_sink(smtp_sink, app, monkeypatch):
    """The sink, emptied, with the test app sending to it through the worker's mail step."""
    from portal import worker

    smtp_sink.clear()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", smtp_sink.port)
    monkeypatch.setattr(smtp_sink, "deliverer", worker.send_mail_now)
    yield smtp_sink
