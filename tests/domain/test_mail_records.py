"""What the database keeps of an erased person besides the member row: nothing in their mail, whatever state
it is in (domain/mail_deliveries.py), import rows, events and webhook deliveries; and no record of a sent
mail past MAIL_RECORDS_DAYS."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from portal.domain import jobs, mail_deliveries, outbox, self_service, webhooks
from portal.domain.base import utcnow
from portal.domain.bulk import member_import
from portal.domain.bulk.jobs import BulkJob, BulkJobRow
from portal.domain.mail_deliveries import FAILED, PENDING, SENT, MailDelivery
from portal.domain.outbox import OutboxEvent
from portal.domain.webhooks import WebhookDelivery
from tests import factories


def ask(session, org, to: str, template: str = "password_reset") -> OutboxEvent:
    return outbox.emit_mail(session, org.id, template=template, to=to, subject=f"Hello {to}",
                            text=f"Dear {to}, your link", html=f"<p>Dear {to}</p>", message_id=f"<{to}.1@x>")


def delivery_of(session, event) -> MailDelivery:
    return session.scalars(select(MailDelivery).where(MailDelivery.outbox_event_id == event.id)).one()


def attempt(session, event, error: str | None, *, permanent: bool = False, now=None) -> MailDelivery:
    """One worker attempt at the event's delivery (claimed first, as the worker does)."""
    now = now or utcnow()
    delivery = delivery_of(session, event)
    delivery.next_attempt_at = now - dt.timedelta(days=1)  # before any other due delivery
    session.flush()
    claim = mail_deliveries.claim_next(session, now=now)
    assert claim.delivery_id == delivery.id
    mail_deliveries.record_outcome(session, claim, error=error, permanent=permanent, now=now)
    return delivery


def test_erasure_blanks_every_mail_record_to_the_address_and_nothing_else(session, org):
    person = factories.make_member(session, org, email="vera.vogelsang@example.com")
    neighbour = factories.make_member(session, org, email="nina@example.com")
    sent, failed, waiting = (ask(session, org, person.email) for _ in range(3))
    shouted = ask(session, org, "VERA.Vogelsang@Example.com")  # the same mailbox, spelt otherwise
    other = ask(session, org, neighbour.email)
    jobs.drain_outbox(session)
    attempt(session, sent, None)
    attempt(session, failed, f"recipient refused: {{'{person.email}': (550, b'no such user')}}", permanent=True)
    attempt(session, waiting, "451 try again later")
    not_drained = ask(session, org, person.email, template="account_exists")
    session.flush()
    before = mail_deliveries.counts(session)
    assert before == {PENDING: 3, SENT: 1, FAILED: 1}

    self_service.erase_member(session, person, actor=org.actor)
    session.expire_all()

    for event in (sent, failed, waiting, shouted):
        d = delivery_of(session, event)
        assert (d.recipient, d.subject, d.text, d.html, d.last_error) == (
            "", "", "", "", mail_deliveries.RECIPIENT_ERASED)
        assert d.claim_token is None and d.claimed_until is None
    # Statuses still count: what was sent stays sent; what waited ends failed (nobody to send it to).
    assert [delivery_of(session, e).status for e in (sent, failed, waiting, shouted)] == [SENT, FAILED, FAILED,
                                                                                           FAILED]
    assert mail_deliveries.counts(session) == {PENDING: 1, SENT: 1, FAILED: 3}
    assert mail_deliveries.claim_next(session, now=utcnow() + dt.timedelta(days=1)).recipient == neighbour.email
    # A mail asked for but not drained yet keeps only its template and becomes no delivery.
    assert not_drained.payload == {"template": "account_exists"}
    jobs.drain_outbox(session)
    assert session.scalars(select(MailDelivery).where(MailDelivery.outbox_event_id == not_drained.id)).all() == []
    # The neighbour's mail is untouched.
    kept = delivery_of(session, other)
    assert (kept.recipient, kept.text) == (neighbour.email, f"Dear {neighbour.email}, your link")


def test_erasure_blanks_import_rows_and_refuses_a_row_not_run_yet(session, org):
    person = factories.make_member(session, org, email="vera.vogelsang@example.com")
    taken = member_import.check_file(session, org.id, "a.csv", b"email,givenName\nVERA.vogelsang@example.com,V\n",
                                     actor=org.actor)
    waiting = member_import.check_file(session, org.id, "b.csv",
                                       b"email,givenName\nkarl@example.com,Karl\nother@example.com,Otto\n",
                                       actor=org.actor)
    member_import.confirm(session, waiting, actor=org.actor)
    karl = factories.make_member(session, org, email="karl.k@example.com")
    # Karl's row names an address that has since become his (a member changed it) before the job ran.
    session.execute(BulkJobRow.__table__.update().where(BulkJobRow.job_id == waiting.id, BulkJobRow.line == 2)
                    .values(key="karl.k@example.com", data={"email": "karl.k@example.com", "givenName": "Karl"}))
    self_service.erase_member(session, person, actor=org.actor)
    self_service.erase_member(session, karl, actor=org.actor)
    session.expire_all()

    [refused] = session.scalars(select(BulkJobRow).where(BulkJobRow.job_id == taken.id)).all()
    assert (refused.key, refused.data, refused.problem) == ("", {}, member_import.ERASED)
    rows = session.scalars(select(BulkJobRow).where(BulkJobRow.job_id == waiting.id).order_by(BulkJobRow.line))
    assert [(r.key, r.data, r.problem, r.outcome) for r in rows] == [
        ("", {}, member_import.ERASED, member_import.REFUSED),
        ("other@example.com", {"email": "other@example.com", "givenName": "Otto"}, None, None)]
    job = session.get(BulkJob, waiting.id)
    assert (job.refused, job.done) == (1, 1)
    # The worker runs the rest and never the erased row.
    assert any(member_import.run_batch(session, job, 10) for _ in range(5)), "the import never finished"
    assert (job.created, job.refused, job.done) == (1, 1, 2)


def test_only_sent_mail_older_than_the_setting_is_deleted(session, org):
    now = utcnow()
    events = {name: ask(session, org, f"{name}@example.com") for name in ("old", "recent", "failed", "waiting")}
    jobs.drain_outbox(session)
    attempt(session, events["old"], None, now=now - dt.timedelta(days=31))
    attempt(session, events["recent"], None, now=now - dt.timedelta(days=29))
    attempt(session, events["failed"], "550 no", permanent=True, now=now - dt.timedelta(days=40))
    session.flush()

    assert mail_deliveries.prune_sent(session, older_than=dt.timedelta(days=30), now=now) == 1
    left = {d.recipient: d.status for d in session.scalars(select(MailDelivery))}
    assert left == {"recent@example.com": SENT, "failed@example.com": FAILED, "waiting@example.com": PENDING}
    assert mail_deliveries.prune_sent(session, older_than=dt.timedelta(days=30), now=now) == 0
    # In batches: a long backlog goes a batch a round.
    assert mail_deliveries.prune_sent(session, older_than=dt.timedelta(days=1), now=now, batch=1) == 1
    assert [d.recipient for d in session.scalars(select(MailDelivery).where(MailDelivery.status == SENT))] == []


def test_erasure_blanks_the_details_copied_into_events_and_webhook_deliveries(session, org):
    person = factories.make_member(session, org, email="vera.vogelsang@example.com", givenName="Vera",
                                   familyName="Vogelsang", city="Quakenbrück")
    webhooks.create_subscription(session, org.id, actor=org.actor, name="CRM", url="https://crm.partner.example/h",
                                 event_types=["member-updated"], allow_private=False)
    event = outbox.emit(session, org.id, "member-updated", member_id=person.id, fields=["city"],
                        note="Vogelsang moved to QUAKENBRÜCK", points=3)
    jobs.drain_outbox(session)
    [delivery] = session.scalars(select(WebhookDelivery).where(WebhookDelivery.member_id == person.id)).all()
    assert "Vogelsang" in delivery.body

    self_service.erase_member(session, person, actor=org.actor)
    session.expire_all()
    assert event.payload == {"fields": ["city"], "note": "", "points": 3}
    body = json.loads(delivery.body)
    assert body["data"] == {"memberId": person.id, "fields": ["city"], "note": "", "points": 3}
    assert body["type"] == "member-updated"
