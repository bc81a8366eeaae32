"""Webhooks delivered over real HTTP to a receiver on loopback, with real commits on SQLite and
PostgreSQL: retries until a 2xx and never after, a worker process killed mid-delivery losing
nothing, several workers sending each attempt once, receivers refused at delivery time, the
timeout, and the README's verification snippet."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import webhook_sender
from portal.domain import jobs, members, points, webhooks
from portal.domain.base import utcnow
from portal.domain.ledger import Reason
from portal.domain.webhooks import WebhookDelivery
from portal.extensions import db
from tests import factories
from tests.webhook_receiver import Receiver, readme_verifier

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parent.parent.parent
SETTINGS = webhook_sender.Settings(timeout=5, lease=30, allow_private=True)


class Clock:
    """The worker's clock, moved on by the test instead of waiting for the backoff."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


def set_up(live_app, receiver: Receiver, make_events, event_types=webhooks.EVENT_TYPES):
    """An organisation subscribed to `receiver`; `make_events(session, org)` then commits its events."""
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Hooks")
            subscription = webhooks.create_subscription(session, org.id, actor=org.actor, name="Receiver",
                                                        url=receiver.url, event_types=list(event_types),
                                                        allow_private=True)
            receiver.secret = subscription.secret
        with db.transaction() as session:
            make_events(session, org)
        db.session.remove()
    return subscription.id


def drain(live_app) -> None:
    with live_app.app_context():
        with db.transaction() as session:
            while jobs.drain_outbox(session):
                pass
        db.session.remove()


def delivery_rows(live_app, subscription_id):
    with live_app.app_context():
        rows = list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
                                       .order_by(WebhookDelivery.id)))
        log = webhooks.attempts_of(db.session, [d.id for d in rows])
        db.session.remove()
    return rows, log


def test_a_failing_receiver_gets_every_event_until_it_answers_2xx_and_then_no_more(live_app):
    clock = Clock()

    def events(session, org):
        ann = factories.make_member(session, org, givenName="Ann")
        members.update_member(session, ann, actor=org.actor, profile={"city": "Berlin"})
        points.mint_to_member(session, ann, 50, actor=org.actor, reason=Reason(description="welcome"))
        factories.make_member(session, org, givenName="Bob")

    with Receiver(answer=lambda event_id, seen: 503 if seen < 3 else 200) as receiver:
        subscription_id = set_up(live_app, receiver, events)
        drain(live_app)
        rows, _ = delivery_rows(live_app, subscription_id)
        assert [d.event_type for d in rows] == ["member-created", "member-updated", "ledger-transaction-created",
                                                "member-created"]
        for _ in range(20):
            with live_app.app_context():
                webhook_sender.deliver_due(db, SETTINGS, clock=clock)
            clock.advance(hours=7)  # past any backoff so far
            rows, _ = delivery_rows(live_app, subscription_id)
            if all(d.status == "success" for d in rows):
                break
        sent_so_far = len(receiver.received)
        for _ in range(3):  # nothing more once each event was answered with a 2xx
            with live_app.app_context():
                assert webhook_sender.deliver_due(db, SETTINGS, clock=clock) == 0
            clock.advance(days=1)

        rows, log = delivery_rows(live_app, subscription_id)
        assert len(receiver.received) == sent_so_far == 4 * len(rows)
        assert all(r.verified for r in receiver.received), "every signature verifies with the README's snippet"
        for delivery in rows:
            seen = receiver.of(delivery.event_id)
            assert [r.status for r in seen] == [503, 503, 503, 200]  # at least once; after the 2xx, no more
            assert all(r.event["id"] == delivery.event_id and r.event["type"] == delivery.event_type for r in seen)
            assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == ("success", 4, 200)
            assert [(a.number, a.outcome, a.status_code) for a in log[delivery.id]] == \
                [(1, "failed", 503), (2, "failed", 503), (3, "failed", 503), (4, "success", 200)]
            assert all(a.latency_ms is not None and a.response_excerpt.startswith("receiver says")
                       for a in log[delivery.id])
        # a member's events reached the receiver in the order they happened, none overtaking another
        ann = rows[0].member_id
        order = [r.event_id for r in receiver.received if r.event["data"]["memberId"] == ann]
        assert order == sorted(order, key=[d.event_id for d in rows if d.member_id == ann].index)


def test_killing_the_worker_mid_delivery_loses_no_event(live_app, tmp_path):
    def events(session, org):
        for n in range(4):
            factories.make_member(session, org, givenName=f"Member {n}")

    with Receiver(hold_first=True) as receiver:
        subscription_id = set_up(live_app, receiver, events, ["member-created"])
        first = worker_process(live_app, tmp_path)
        try:
            assert receiver.arrived.wait(60), "the worker never called the receiver"
            first.send_signal(signal.SIGKILL)  # mid-call: the claim is committed, the answer never comes
            first.wait(10)
        finally:
            first.kill()
        rows, log = delivery_rows(live_app, subscription_id)
        held = next(d for d in rows if log[d.id])
        assert held.status == "pending" and held.claimed_until is not None
        assert [(a.number, a.outcome) for a in log[held.id]] == [(1, None)]  # claimed, in flight, never answered
        receiver.release.set()

        second = worker_process(live_app, tmp_path)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                rows, log = delivery_rows(live_app, subscription_id)
                if len(rows) == 4 and all(d.status == "success" for d in rows):
                    break
                time.sleep(0.3)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(20)

    assert [d.status for d in rows] == ["success"] * 4, [(d.event_type, d.status, d.attempt_count) for d in rows]
    for delivery in rows:
        answers = [r.status for r in receiver.of(delivery.event_id)]
        assert answers[-1] == 200 and answers.count(200) == 1
    # the killed attempt: abandoned once its lease ran out, then sent again with the same id
    assert [(a.number, a.outcome) for a in log[held.id]] == [(1, "abandoned"), (2, "success")]
    assert [r.status for r in receiver.of(held.event_id)] == [503, 200]
    assert all(r.verified for r in receiver.received)


def worker_process(live_app, tmp_path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": live_app.config["DATABASE_URL"], "SECRET_KEY": "worker-test",
           "PORTAL_INSTANCE_DIR": str(tmp_path), "PORTAL_WEBHOOK_ALLOW_PRIVATE_URLS": "1",
           "PORTAL_WEBHOOK_TIMEOUT_SECONDS": "5", "PORTAL_WEBHOOK_LEASE_SECONDS": "6"}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", "--interval", "0.5"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_two_workers_at_once_send_each_attempt_once(live_app):
    def events(session, org):
        for n in range(24):
            person = factories.make_member(session, org, givenName=f"Member {n}")
            if n % 3 == 0:
                members.update_member(session, person, actor=org.actor, profile={"city": "Köln"})

    with Receiver(delay=0.01) as receiver:
        subscription_id = set_up(live_app, receiver, events, ["member-created", "member-updated"])
        drain(live_app)
        barrier, made, errors = threading.Barrier(4), [], []

        def work():
            with live_app.app_context():
                barrier.wait(30)
                try:
                    # a few rounds, as a worker loops: a member's update becomes due once its creation is delivered
                    for _ in range(3):
                        made.append(webhook_sender.deliver_due(db, SETTINGS, limit=100))
                except Exception as error:  # reported below
                    errors.append(error)
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        with live_app.app_context():
            made.append(webhook_sender.deliver_due(db, SETTINGS))  # whatever an unlucky ordering left due
            db.session.remove()

    assert not errors, errors
    rows, log = delivery_rows(live_app, subscription_id)
    assert len(rows) == 32 and all(d.status == "success" for d in rows)
    ids = receiver.ids()
    assert sorted(ids) == sorted(d.event_id for d in rows)  # each exactly once
    assert all(len(log[d.id]) == 1 and d.attempt_count == 1 for d in rows)
    assert sum(made) == 32 and all(r.verified for r in receiver.received)


def test_a_receiver_gone_private_is_refused_at_delivery_time(live_app):
    with Receiver() as receiver:
        subscription_id = set_up(live_app, receiver, lambda s, org: factories.make_member(s, org),
                                 ["member-created"])
        drain(live_app)
        with live_app.app_context():  # the URL was allowed when saved; the installation no longer allows it
            strict = webhook_sender.Settings(timeout=5, lease=30, allow_private=False)
            assert webhook_sender.deliver_due(db, strict) == 1
            db.session.remove()
    rows, log = delivery_rows(live_app, subscription_id)
    [attempt] = log[rows[0].id]
    assert attempt.outcome == "failed" and attempt.status_code is None
    assert attempt.error.startswith("Refused: 127.0.0.1 is a loopback address")
    assert receiver.received == [] and rows[0].status == "pending"


def test_a_slow_receiver_times_out_and_the_attempt_is_logged(live_app):
    with Receiver(delay=3) as receiver:
        subscription_id = set_up(live_app, receiver, lambda s, org: factories.make_member(s, org),
                                 ["member-created"])
        drain(live_app)
        started = time.monotonic()
        with live_app.app_context():
            webhook_sender.deliver_due(db, webhook_sender.Settings(timeout=1, lease=30, allow_private=True))
            db.session.remove()
        took = time.monotonic() - started
    rows, log = delivery_rows(live_app, subscription_id)
    [attempt] = log[rows[0].id]
    assert (attempt.outcome, attempt.status_code) == ("failed", None)
    assert attempt.error == "No complete answer within 1 s" and 900 <= attempt.latency_ms < 2500
    assert took < 2.5 and rows[0].status == "pending" and rows[0].next_attempt_at > attempt.started_at


def test_the_readme_snippet_verifies_portals_signatures():
    verify = readme_verifier()
    secret = webhooks.new_secret()
    body = b'{"id":"evt_1","type":"member-created"}'
    now = int(time.time())
    headers = webhooks.signature_headers(secret, "evt_1", now, body)
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body + b" ")  # tampered body
    assert not verify(webhooks.new_secret(), headers, body)  # another secret
    assert not verify(secret, {**headers, "webhook-id": "evt_2"}, body)  # another event's signature
    old = webhooks.signature_headers(secret, "evt_1", now - 301, body)
    assert not verify(secret, old, body)  # a replay older than 5 minutes
    assert not verify(secret, {**headers, "webhook-timestamp": "soon"}, body)
    rotated = {**headers, "webhook-signature": "v1,bm9wZQ== " + headers["webhook-signature"]}
    assert verify(secret, rotated, body)  # any one of several signatures
