"""A mail whose transaction committed is sent even if the web process dies right after: a real
process answers a reset request and is killed (SIGKILL) at once; a worker then sends the mail."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from portal import worker
from portal.extensions import db
from tests import factories
from tests.mailsink import smtp_sink  # noqa: F401  (fixture)

pytestmark = pytest.mark.live

WEB_PROCESS = """
import os, signal, sys
from config import TestConfig
from portal import create_app

class Config(TestConfig):
    DATABASE_URL = sys.argv[1]
    WTF_CSRF_ENABLED = False
    PORTAL_ORGANIZATION_ID = int(sys.argv[2])
    MAIL_SERVER, MAIL_PORT = "127.0.0.1", int(sys.argv[4])

response = create_app(Config).test_client().post("/password/forgot", data={"email": sys.argv[3]})
print(response.status_code, response.location, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # dies right after the answer, before anything else could run
"""


def test_a_committed_mail_is_sent_by_the_worker_after_the_web_process_died(live_app, smtp_sink, monkeypatch):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Killed")
            member = factories.make_member(session, org)
        db.session.remove()
    smtp_sink.clear()
    url = live_app.config["DATABASE_URL"]
    done = subprocess.run([sys.executable, "-c", WEB_PROCESS, url, str(org.id), member.email, str(smtp_sink.port)],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.split() == ["302", "/password/forgot/sent"], done.stderr
    assert smtp_sink.to(member.email) == []  # the web process sent nothing itself

    monkeypatch.setitem(live_app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(live_app.config, "MAIL_PORT", smtp_sink.port)
    with live_app.app_context():
        assert worker.send_mail_now() == 1
        assert worker.send_mail_now() == 0
        db.session.remove()
    [message] = smtp_sink.to(member.email)
    assert "/password/reset/" in message.text
