"""A real webhook receiver for tests: an HTTP server thread on loopback that records each delivery,
checks its signature with the README's own snippet, and answers as the test tells it."""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_verifier() -> Callable[..., bool]:
    """`verify_webhook` as the README prints it, so the documentation is what gets tested."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    [code] = [block for block in blocks if "def verify_webhook" in block]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (our own README)
    return namespace["verify_webhook"]


@dataclass
class Received:
    event_id: str
    event: dict
    verified: bool
    status: int  # what the receiver answered


class Receiver:
    """`answer(event_id, times_seen_before) -> status`; 200 unless told. `hold_first` keeps the first
    request waiting (and `arrived` set) until `release` is set, for killing the sender mid-call."""

    def __init__(self, answer: Callable[[str, int], int] | None = None, hold_first: bool = False,
                 delay: float = 0.0):
        self.answer = answer or (lambda event_id, seen: 200)
        self.hold_first, self.delay = hold_first, delay
        self.secret = ""
        self.received: list[Received] = []
        self.arrived, self.release = threading.Event(), threading.Event()
        self.lock = threading.Lock()
        self.verify = readme_verifier()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/portal"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def ids(self) -> list[str]:
        with self.lock:
            return [r.event_id for r in self.received]

    def of(self, event_id: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.event_id == event_id]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                event_id = self.headers.get("webhook-id", "")
                with receiver.lock:
                    seen = sum(1 for r in receiver.received if r.event_id == event_id)
                    hold = receiver.hold_first and not receiver.arrived.is_set()
                    if hold:
                        receiver.arrived.set()
                if hold:
                    receiver.release.wait(60)
                    status = 503  # whatever happens to the sender, this attempt must not count as delivered
                else:
                    status = receiver.answer(event_id, seen)
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                record = Received(event_id=event_id, event=json.loads(body or b"{}"), status=status,
                                  verified=receiver.verify(receiver.secret, self.headers, body))
                with receiver.lock:
                    receiver.received.append(record)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(f"receiver says {status}".encode())
                except OSError:  # the sender is gone (killed mid-call)
                    pass

            def log_message(self, *args):
                pass

        return Handler
