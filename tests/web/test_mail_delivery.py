"""Mail through the outbox and the worker (portal/mail.py, domain/mail_deliveries.py), against a real
SMTP server on loopback: nothing leaves during the request, a committed mail arrives once even
when the server refuses the first attempts, a rolled-back one never, a mail the server keeps
refusing ends failed and visible."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from portal import mail, worker
from portal.domain import mail_deliveries, outbox
from portal.domain.base import utcnow
from portal.domain.mail_deliveries import MailDelivery
from portal.domain.outbox import OutboxEvent
from portal.extensions import db
from tests.mailsink import free_port

from .member_helpers import mail_sink, make_member, member, portal, smtp_sink  # noqa: F401


def reset_asked(portal, member) -> None:
    response = portal.submit("/password/forgot", {"email": member.email})
    assert response.status_code == 302


def arrived(sink, address: str) -> list:
    """What the sink holds for `address`, without running the worker."""
    with sink._changed:
        return [m for m in sink.messages if address in m.rcpt_tos]


def the_delivery(session) -> MailDelivery:
    session.expire_all()
    [delivery] = session.scalars(select(MailDelivery)).all()
    return delivery


def test_the_request_only_queues_the_mail_and_the_worker_sends_it(portal, member, mail_sink, session):
    reset_asked(portal, member)
    assert arrived(mail_sink, member.email) == []  # the web request talked to no mail server
    [event] = session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == outbox.MAIL_REQUESTED)).all()
    assert event.member_id is None and "/password/reset/" in event.payload["text"]

    assert worker.send_mail_now() == 1
    [message] = arrived(mail_sink, member.email)
    assert "/password/reset/" in message.text and message.message["Message-ID"]
    delivery = the_delivery(session)
    assert (delivery.status, delivery.attempt_count) == (mail_deliveries.SENT, 1)
    assert delivery.text == delivery.html == ""  # the one-time link does not stay in the database
    session.refresh(event)
    assert event.payload == {"template": "password_reset"} and event.processed_at is not None
    assert worker.send_mail_now() == 0 and len(arrived(mail_sink, member.email)) == 1


def test_a_refused_mail_is_retried_with_backoff_and_arrives_once(portal, member, mail_sink, session):
    mail_sink.refuse(3)  # 451 to the first three attempts
    reset_asked(portal, member)
    now = utcnow()
    waits = []
    for attempt in range(1, 4):
        assert worker.send_mail_now(now=now) == 1
        delivery = the_delivery(session)
        assert (delivery.status, delivery.attempt_count) == (mail_deliveries.PENDING, attempt)
        assert "451" in delivery.last_error
        waits.append(delivery.next_attempt_at - now)
        assert worker.send_mail_now(now=now) == 0  # not due yet: no attempt before the wait is over
        now = delivery.next_attempt_at
    assert waits == [dt.timedelta(seconds=30), dt.timedelta(seconds=60), dt.timedelta(seconds=120)]
    assert arrived(mail_sink, member.email) == [] and mail_sink.refused == 3

    assert worker.send_mail_now(now=now) == 1
    assert len(arrived(mail_sink, member.email)) == 1
    assert the_delivery(session).status == mail_deliveries.SENT
    assert worker.send_mail_now(now=now + dt.timedelta(days=1)) == 0
    assert len(arrived(mail_sink, member.email)) == 1


def test_a_mail_server_that_is_down_is_tried_again_later(portal, member, mail_sink, session, app, monkeypatch):
    reset_asked(portal, member)
    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())  # nobody listens: connection refused
    now = utcnow()
    assert worker.send_mail_now(now=now) == 1
    delivery = the_delivery(session)
    assert delivery.status == mail_deliveries.PENDING and "Connection" in delivery.last_error
    monkeypatch.setitem(app.config, "MAIL_PORT", mail_sink.port)
    assert worker.send_mail_now(now=delivery.next_attempt_at) == 1
    assert len(arrived(mail_sink, member.email)) == 1


def test_attempts_are_bounded_and_a_failed_mail_stays_visible(portal, member, mail_sink, session, app):
    mail_sink.refuse(mail_deliveries.MAX_ATTEMPTS + 5)
    reset_asked(portal, member)
    now = utcnow()
    for _ in range(mail_deliveries.MAX_ATTEMPTS):
        assert worker.send_mail_now(now=now) == 1
        now = the_delivery(session).next_attempt_at
    delivery = the_delivery(session)
    assert (delivery.status, delivery.attempt_count) == (mail_deliveries.FAILED, mail_deliveries.MAX_ATTEMPTS)
    assert worker.send_mail_now(now=now + dt.timedelta(days=30)) == 0
    assert mail_sink.refused == mail_deliveries.MAX_ATTEMPTS and arrived(mail_sink, member.email) == []
    assert mail_deliveries.counts(session)[mail_deliveries.FAILED] == 1

    shown = app.test_cli_runner().invoke(args=["mail-queue"])
    assert shown.exit_code == 0, shown.output
    assert '"failed": 1' in shown.output
    assert f"password_reset to {member.email} after {mail_deliveries.MAX_ATTEMPTS} attempts" in shown.output
    assert "451" in shown.output


def test_a_mail_refused_for_good_fails_at_once(portal, member, mail_sink, session, monkeypatch):
    async def refuse_for_good(server, smtp_session, envelope, address, options):
        return "550 No such user here"

    monkeypatch.setattr(mail_sink, "handle_RCPT", refuse_for_good, raising=False)
    reset_asked(portal, member)
    assert worker.send_mail_now() == 1
    delivery = the_delivery(session)
    assert (delivery.status, delivery.attempt_count) == (mail_deliveries.FAILED, 1)
    assert "550" in delivery.last_error


def test_a_refusal_is_logged_and_kept_without_the_address(portal, member, mail_sink, session, monkeypatch,
                                                           caplog):
    async def refuse_for_good(server, smtp_session, envelope, address, options):
        return f"550 5.1.1 <{address.upper()}>: Recipient address rejected"

    monkeypatch.setattr(mail_sink, "handle_RCPT", refuse_for_good, raising=False)
    reset_asked(portal, member)
    with caplog.at_level("INFO", logger="portal.mail"):
        assert worker.send_mail_now() == 1
    delivery = the_delivery(session)
    assert delivery.status == mail_deliveries.FAILED
    assert "<recipient>" in delivery.last_error and "Recipient address rejected" in delivery.last_error
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "Recipient address rejected" in logged
    local_part = member.email.split("@")[0].lower()
    assert local_part not in delivery.last_error.lower() and local_part not in logged.lower()


def test_a_rolled_back_transaction_sends_nothing(portal, member, mail_sink, session, org):
    with pytest.raises(RuntimeError), db.transaction() as work:
        mail.queue(work, org.id, member.email, "Reset your password", "password_reset", member=member,
                   org_name="Acme", link="http://localhost/password/reset/x", hours=1)
        raise RuntimeError("the request failed after asking for the mail")
    assert session.scalar(select(func.count()).select_from(OutboxEvent)
                          .where(OutboxEvent.event_type == outbox.MAIL_REQUESTED)) == 0
    assert worker.send_mail_now() == 0
    assert mail_sink.to(member.email) == []


def test_a_refused_signup_sends_nothing(portal, member, mail_sink, session):
    """A request refused by a rule after the mail would have been asked for rolls the mail back with it."""
    response = portal.signup("new-person@example.com", password="short")
    assert response.status_code == 422
    assert mail_sink.to("new-person@example.com") == []
    assert session.scalar(select(func.count()).select_from(MailDelivery)) == 0


def test_without_a_mail_server_the_worker_writes_the_mail_to_the_log(portal, member, app, session, monkeypatch,
                                                                     caplog):
    monkeypatch.setitem(app.config, "MAIL_SERVER", "")
    reset_asked(portal, member)
    with caplog.at_level("INFO", logger="portal.mail"):
        worker.send_mail_now()
    assert any(f"To: {member.email}" in r.getMessage() for r in caplog.records if r.name == "portal.mail")
    assert the_delivery(session).status == mail_deliveries.SENT



def test_the_worker_looks_for_waiting_mail_during_its_pause_not_right_after_a_round(portal, member, session):
    reset_asked(portal, member)  # a mail event waits in the outbox
    assert worker._work_waiting(2.0) and worker._work_waiting(4.0)
    assert not worker._work_waiting(0.0)  # else a job another worker holds starts round after round, unpaused
    assert not worker._work_waiting(2.5)


def test_a_worker_round_deletes_the_records_of_mail_sent_longer_ago_than_the_setting(portal, member, mail_sink,
                                                                                      session, app, monkeypatch):
    reset_asked(portal, member)
    mail_sink.wait_for(member.email)
    delivery = the_delivery(session)
    sent_at = utcnow() - dt.timedelta(days=8)
    delivery.next_attempt_at = delivery.finished_at = sent_at
    session.commit()
    monkeypatch.setitem(app.config, "MAIL_RECORDS_DAYS", 9)
    assert worker.run_once()["mail_records"] == 0  # eight days old: kept for nine
    assert the_delivery(session).status == mail_deliveries.SENT
    monkeypatch.setitem(app.config, "MAIL_RECORDS_DAYS", 7)
    assert worker.run_once()["mail_records"] == 1
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(MailDelivery)) == 0
