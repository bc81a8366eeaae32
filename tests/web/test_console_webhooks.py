"""Webhooks in the console: create and edit with errors on their fields, the secret shown on request
and after rotation, a test event, the delivery log with its attempts and the redeliver button,
delete, roles, CSRF and isolation."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.domain import jobs, webhooks
from portal.domain.audit import AuditEntry
from portal.domain.webhooks import WebhookDelivery, WebhookSubscription
from tests import factories

from .console_helpers import ConsoleForm
from .page import field_error, page

URL = "https://hooks.partner.example/portal"


FORM = ConsoleForm("/console/webhooks/new", name="Partner CRM", url=URL,
                   event_types=["member-created", "coupon-code-used"], active="y")


def named(session, name: str) -> WebhookSubscription | None:
    return factories.first(session, WebhookSubscription, WebhookSubscription.name == name)


@pytest.fixture
def hook(session, org):
    subscription = webhooks.create_subscription(session, org.id, actor=org.actor, name="CRM", url=URL,
                                                event_types=["member-created"], allow_private=False)
    session.commit()
    return subscription


@pytest.fixture
def failed_once(session, org, hook):
    """A member-created delivery whose first attempt got a 503."""
    factories.make_member(session, org)
    jobs.drain_outbox(session)
    claim = webhooks.claim_next(session, now=webhooks.utcnow(), lease=webhooks.dt.timedelta(seconds=60))
    webhooks.record_outcome(session, claim, webhooks.AttemptResult(status_code=503, latency_ms=42,
                                                                   response_excerpt="down for maintenance"),
                            now=webhooks.utcnow())
    session.commit()
    return session.get(WebhookDelivery, claim.delivery_id)


def test_create_a_webhook_and_see_it_listed(console, signed_in, session, org):
    response = FORM.submit(console)
    assert response.status_code == 302
    subscription = named(session, "Partner CRM")
    assert (subscription.organization_id, subscription.url, subscription.event_types, subscription.active) == \
        (org.id, URL, ["member-created", "coupon-code-used"], True)
    assert response.headers["Location"].endswith(f"/console/webhooks/{subscription.id}")
    detail = console.get(f"/console/webhooks/{subscription.id}")
    assert subscription.secret not in detail.get_data(as_text=True)  # only on request
    assert "created" in page(detail).text(".flashes")
    listed = page(console.get("/console/webhooks"))
    row = listed.text(f'tr[data-webhook-id="{subscription.id}"]')
    assert "Partner CRM" in row and URL in row and "Member created" in row and "Coupon used" in row
    assert "Webhooks" in listed.texts("nav a")


test_errors_land_on_their_fields = FORM.refusals_test([
    ({"url": "http://127.0.0.1:8000/hook"}, "url", "loopback"),
    ({"url": "http://10.0.0.3/"}, "url", "private"),
    ({"url": "ftp://hooks.partner.example/"}, "url", "Only http and https"),
    ({"url": ""}, "url", "This field is required"),
    ({"event_types": []}, "event_types", "Choose at least one event"),
    ({"event_types": ["member-exploded"]}, "event_types", "not a valid choice"),
    ({"name": ""}, "name", "This field is required"),
], created=lambda session: named(session, "Partner CRM"))


def test_edit_and_pause(console, signed_in, session, hook):
    form = page(console.get(f"/console/webhooks/{hook.id}/edit"))
    assert form.one("#url").get("value") == URL
    checked = [e.get("value") for e in form.all('input[name="event_types"]') if e.get("checked") is not None]
    assert checked == ["member-created"]
    response = console.post(f"/console/webhooks/{hook.id}/edit",
                            FORM.data(name="CRM", url="https://crm.partner.example/in", active="",
                                      event_types=["member-updated", "referral-completed"]))
    assert response.status_code == 302
    session.refresh(hook)
    assert (hook.url, hook.event_types, hook.active) == ("https://crm.partner.example/in",
                                                         ["member-updated", "referral-completed"], False)
    bad = console.post(f"/console/webhooks/{hook.id}/edit", FORM.data(url="http://192.168.1.20/"))
    assert bad.status_code == 422 and "private" in field_error(bad, "url")
    session.refresh(hook)
    assert hook.url == "https://crm.partner.example/in"
    assert "Paused" in page(console.get(f"/console/webhooks/{hook.id}")).text("#webhook-status")


def test_the_secret_is_shown_on_request_and_after_rotation(console, signed_in, session, hook):
    shown = console.post(f"/console/webhooks/{hook.id}/secret")
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert page(shown).one("#signing-secret").get("value") == hook.secret
    old = hook.secret
    rotated = console.post(f"/console/webhooks/{hook.id}/rotate-secret")
    session.refresh(hook)
    assert hook.secret != old and page(rotated).one("#signing-secret").get("value") == hook.secret
    actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "webhooksubscription",
                                                                   AuditEntry.target_id == str(hook.id))
                                   .order_by(AuditEntry.id)))
    assert actions == ["webhook.created", "webhook.secret_shown", "webhook.updated"]


def test_send_a_test_event(console, signed_in, session, org, hook):
    response = console.post(f"/console/webhooks/{hook.id}/test")
    assert response.status_code == 302
    [delivery] = session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == hook.id))
    assert delivery.event_type == "webhook-test" and delivery.status == "pending"
    detail = page(console.get(f"/console/webhooks/{hook.id}"))
    assert delivery.event_id in detail.text(".flashes")
    assert "Test event" in detail.text(f'tr[data-delivery-id="{delivery.id}"]')
    webhooks.update_subscription(session, hook, actor=org.actor, allow_private=False, active=False)
    session.commit()
    console.post(f"/console/webhooks/{hook.id}/test")
    assert "Activate the webhook" in page(console.get(f"/console/webhooks/{hook.id}")).text(".flashes")
    assert session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == hook.id)).all() == \
        [delivery]


def test_the_delivery_log_shows_attempts_and_redelivers(console, signed_in, session, hook, failed_once):
    detail = page(console.get(f"/console/webhooks/{hook.id}"))
    row = detail.text(f'tr[data-delivery-id="{failed_once.id}"]')
    assert "Member created" in row and failed_once.event_id in row and "Pending" in row and "503" in row
    attempt = detail.text(f'tr[data-attempts-of="{failed_once.id}"] tr[data-attempt="1"]')
    assert "failed" in attempt and "503" in attempt and "42" in attempt and "down for maintenance" in attempt
    retry_at = failed_once.next_attempt_at
    response = console.post(f"/console/webhooks/{hook.id}/deliveries/{failed_once.id}/redeliver")
    assert response.status_code == 302
    session.refresh(failed_once)
    assert failed_once.next_attempt_at < retry_at and failed_once.status == "pending"
    assert failed_once.event_id in page(console.get(f"/console/webhooks/{hook.id}")).text(".flashes")
    # the status filter, as htmx asks for it from the page's own URL
    fragment = console.get(f"/console/webhooks/{hook.id}?status=success",
                           headers={"HX-Request": "true", "HX-Target": "delivery-rows"})
    assert "<html" not in fragment.get_data(as_text=True) and "HX-Request" in fragment.headers["Vary"]
    assert not page(fragment).has(f'tr[data-delivery-id="{failed_once.id}"]')
    assert page(console.get(f"/console/webhooks/{hook.id}?status=pending")).has(
        f'tr[data-delivery-id="{failed_once.id}"]')


def test_delete(console, signed_in, session, hook):
    response = console.post(f"/console/webhooks/{hook.id}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/webhooks")
    session.refresh(hook)
    assert hook.deleted_at is not None
    assert console.get(f"/console/webhooks/{hook.id}").status_code == 404
    assert not page(console.get("/console/webhooks")).has(f'tr[data-webhook-id="{hook.id}"]')


def test_readers_see_the_log_but_change_nothing(console, sign_in_as, session, hook, failed_once):
    sign_in_as(["webhooks:read"])
    detail = page(console.get(f"/console/webhooks/{hook.id}"))
    assert detail.has(f'tr[data-delivery-id="{failed_once.id}"]')
    assert not detail.all('button[aria-label^="Redeliver"]') and not detail.all("#delete-form")
    audited, secret = factories.count(session, AuditEntry), hook.secret
    for path in ("/edit", "/secret", "/rotate-secret", "/test", "/delete",
                 f"/deliveries/{failed_once.id}/redeliver"):
        assert console.post(f"/console/webhooks/{hook.id}{path}", FORM.data()).status_code == 403, path
    session.refresh(hook)
    assert (hook.name, hook.secret, hook.deleted_at) == ("CRM", secret, None)
    assert factories.count(session, AuditEntry) == audited  # each of these actions is audited: none happened
    assert console.get("/console/webhooks/new").status_code == 403


def test_no_role_no_page_and_no_link(console, sign_in_as, hook):
    sign_in_as(["members:read"])
    assert console.get("/console/webhooks").status_code == 403
    assert "Webhooks" not in page(console.get("/console/")).texts("nav a")


def test_csrf_and_other_organisations(console, signed_in, session, other_org, hook):
    assert console.client.post(f"/console/webhooks/{hook.id}/delete").status_code == 400
    session.refresh(hook)
    assert hook.deleted_at is None
    theirs = webhooks.create_subscription(session, other_org.id, actor=other_org.actor, name="Theirs", url=URL,
                                          event_types=["member-created"], allow_private=False)
    session.commit()
    assert console.get(f"/console/webhooks/{theirs.id}").status_code == 404
    assert console.post(f"/console/webhooks/{theirs.id}/secret").status_code == 404
    assert console.post(f"/console/webhooks/{theirs.id}/delete").status_code == 404
    session.refresh(theirs)
    assert theirs.deleted_at is None
