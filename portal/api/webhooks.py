"""Webhook subscriptions, their delivery log, a test event and redelivery.

Handlers translate; the rules (which URLs, which events, retries) live in portal.domain.webhooks.
"""
from __future__ import annotations

import json

from flask import current_app

from ..domain import webhooks
from ..domain.base import utcnow
from ..domain.webhooks import WebhookDelivery, WebhookSubscription
from .core import Call, endpoint, ok, page_response
from .schemas import webhooks as s

ORG = "/organizations/<int:organizationId>"
HOOKS = f"{ORG}/webhooks"
HOOK = f"{HOOKS}/<int:webhookId>"
HOOK_ORDER = {"createdAt": WebhookSubscription.created_at, "id": WebhookSubscription.id,
              "name": WebhookSubscription.name}
DELIVERY_ORDER = {"createdAt": WebhookDelivery.id, "id": WebhookDelivery.id}  # ids follow queueing order


@endpoint(HOOKS, role="webhooks:read", query=s.WebhookListQuery, response=s.WebhookPage, tag="Webhooks",
          summary="List webhook subscriptions")
def list_webhooks(call: Call):
    stmt = webhooks.subscriptions_query(call.organization_id, active=call.query.active)
    return page_response(call, stmt, s.WebhookPage, webhook_out, orders=HOOK_ORDER)


@endpoint(HOOKS, "POST", role="webhooks:write", body=s.WebhookIn, response=s.WebhookEnvelope, status=201,
          tag="Webhooks", summary="Subscribe a receiver URL to event types; the answer shows the signing secret once")
def create_webhook(call: Call):
    b: s.WebhookIn = call.body
    subscription = webhooks.create_subscription(call.session, call.organization_id, actor=call.actor, name=b.name,
                                                url=b.url, event_types=list(b.event_types), active=b.active,
                                                allow_private=_allow_private())
    return ok(s.WebhookEnvelope(webhook=webhook_out(subscription, show_secret=True)).dump(), 201)


@endpoint(HOOK, role="webhooks:read", response=s.WebhookEnvelope, tag="Webhooks", summary="Get a webhook")
def get_webhook(call: Call, webhookId: int):
    return ok(s.WebhookEnvelope(webhook=webhook_out(_subscription(call, webhookId))).dump())


@endpoint(HOOK, "PATCH", role="webhooks:write", body=s.WebhookUpdate, response=s.WebhookEnvelope, tag="Webhooks",
          summary="Change a webhook's name, URL, event types or active flag, or rotate its secret")
def update_webhook(call: Call, webhookId: int):
    b: s.WebhookUpdate = call.body
    subscription = webhooks.update_subscription(
        call.session, _subscription(call, webhookId), actor=call.actor, allow_private=_allow_private(), name=b.name,
        url=b.url, event_types=list(b.event_types) if b.event_types is not None else None, active=b.active,
        rotate_secret=b.rotate_secret)
    return ok(s.WebhookEnvelope(webhook=webhook_out(subscription, show_secret=b.rotate_secret)).dump())


@endpoint(HOOK, "DELETE", role="webhooks:write", status=204, tag="Webhooks",
          summary="Delete a webhook: nothing more is sent to it")
def delete_webhook(call: Call, webhookId: int):
    webhooks.delete_subscription(call.session, _subscription(call, webhookId), actor=call.actor)
    return "", 204


@endpoint(f"{HOOK}/deliveries", role="webhooks:read", query=s.DeliveryListQuery, response=s.DeliveryPage,
          tag="Webhooks", summary="A webhook's deliveries, newest first, each with its attempts")
def list_deliveries(call: Call, webhookId: int):
    q: s.DeliveryListQuery = call.query
    stmt = webhooks.deliveries_query(_subscription(call, webhookId), status=q.status, event_type=q.event_type)

    def with_attempts(deliveries: list[WebhookDelivery]) -> list[s.DeliveryOut]:
        attempts = webhooks.attempts_of(call.session, [d.id for d in deliveries])
        return [delivery_out(d, attempts[d.id]) for d in deliveries]

    return page_response(call, stmt, s.DeliveryPage, with_attempts, orders=DELIVERY_ORDER, whole_page=True)


@endpoint(f"{HOOK}/test", "POST", role="webhooks:write", response=s.DeliveryEnvelope, status=202, tag="Webhooks",
          summary="Queue a webhook-test event to this webhook; the worker sends it like any other")
def test_webhook(call: Call, webhookId: int):
    delivery = webhooks.queue_test(call.session, _subscription(call, webhookId), actor=call.actor)
    return ok(s.DeliveryEnvelope(delivery=delivery_out(delivery, [])).dump(), 202)


@endpoint(f"{HOOK}/deliveries/<int:deliveryId>/redeliver", "POST", role="webhooks:write",
          response=s.DeliveryEnvelope, status=202, tag="Webhooks",
          summary="Send a delivery again now (same event id and body), with a fresh retry window")
def redeliver(call: Call, webhookId: int, deliveryId: int):
    subscription = _subscription(call, webhookId)
    delivery = webhooks.redeliver(call.session, subscription,
                                  webhooks.get_delivery(call.session, subscription, deliveryId), actor=call.actor)
    attempts = webhooks.attempts_of(call.session, [delivery.id])[delivery.id]
    return ok(s.DeliveryEnvelope(delivery=delivery_out(delivery, attempts)).dump(), 202)


def webhook_out(subscription: WebhookSubscription, *, show_secret: bool = False) -> s.WebhookOut:
    return s.WebhookOut(id=subscription.id, name=subscription.name, url=subscription.url,
                        event_types=list(subscription.event_types), active=subscription.active,
                        secret_hint=subscription.secret_hint, secret=subscription.secret if show_secret else None,
                        created_at=subscription.created_at, updated_at=subscription.updated_at)


def delivery_out(delivery: WebhookDelivery, attempts: list[webhooks.WebhookAttempt]) -> s.DeliveryOut:
    status = delivery.state(utcnow())
    return s.DeliveryOut(
        id=delivery.id, event_id=delivery.event_id, event_type=delivery.event_type, member_id=delivery.member_id,
        status=status, attempt_count=delivery.attempt_count,
        next_attempt_at=delivery.next_attempt_at if delivery.status == webhooks.PENDING else None,
        last_status_code=delivery.last_status_code, created_at=delivery.created_at,
        finished_at=delivery.finished_at, payload=json.loads(delivery.body),
        attempts=[s.AttemptOut(number=a.number, started_at=a.started_at, finished_at=a.finished_at,
                               outcome=a.outcome, status_code=a.status_code, latency_ms=a.latency_ms,
                               response_excerpt=a.response_excerpt, error=a.error) for a in attempts])


def _subscription(call: Call, webhook_id: int) -> WebhookSubscription:
    return webhooks.get_subscription(call.session, call.organization_id, webhook_id)


def _allow_private() -> bool:
    return bool(current_app.config["WEBHOOK_ALLOW_PRIVATE_URLS"])
