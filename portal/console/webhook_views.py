"""Webhooks in the console: subscriptions (list, create, edit, delete), the signing secret (shown
on request to staff who may change webhooks, and after a rotation; each showing is audited), a
test event, and each webhook's delivery log with its attempts and a redeliver button.

The delivery log pages through htmx from the webhook page's own URL (#delivery-rows).
"""
from __future__ import annotations

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from ..auth import staff_required
from ..domain import webhooks
from ..domain.base import utcnow
from ..domain.base import fits_id
from ..domain.errors import DomainError
from ..domain.webhooks import WebhookDelivery, WebhookSubscription
from ..extensions import db, htmx
from . import bp, navigation
from ..fragments import render_page_or_fragment
from .rendering import page_of
from .resources import Resource
from .webhook_forms import EVENT_LABELS, FIELDS, ConfirmForm, WebhookForm

navigation.register("Webhooks", "console.webhook_list", "webhooks:read", "console.webhook_")

HOOKS_PER_PAGE = 25
DELIVERIES_PER_PAGE = 20
WEBHOOKS = Resource("webhooks", "webhook", webhooks.get_subscription, fields=FIELDS, known_as="subscription",
                    label="Webhooks", write_role="webhooks:write")
STATUS_FILTERS = (webhooks.PENDING, webhooks.RUNNING, webhooks.SUCCESS, webhooks.FAILED)


@bp.get("/webhooks")
@staff_required("webhooks:read")
def webhook_list():
    result = page_of(webhooks.subscriptions_query(current_user.organization_id), HOOKS_PER_PAGE,
                     WebhookSubscription.name, WebhookSubscription.id)
    return render_page_or_fragment("console/webhooks/list.html", "console/webhooks/_rows.html", result=result,
                                   counts=_status_counts([s.id for s in result.items]), labels=EVENT_LABELS)


@bp.route("/webhooks/new", methods=["GET", "POST"])
@staff_required("webhooks:write")
def webhook_new():
    form = WebhookForm()
    return WEBHOOKS.new_page(form, webhooks.create_subscription, values=_values_of(form), subscription=None,
                             told=lambda subscription: f"Webhook {subscription.name} created. Show its signing "
                                                       "secret below to set up your receiver.")


@bp.get("/webhooks/<int:webhook_id>")
@staff_required("webhooks:read")
def webhook_detail(webhook_id: int):
    """The webhook's settings and its delivery log (filtered by `?status=`, paged through htmx into
    #delivery-rows); its signing secret only in the answer to a confirmed POST showing or rotating it."""
    return _detail_page(WEBHOOKS.find(webhook_id))


@bp.route("/webhooks/<int:webhook_id>/edit", methods=["GET", "POST"])
@staff_required("webhooks:write")
def webhook_edit(webhook_id: int):
    subscription, form = WEBHOOKS.find(webhook_id), WebhookForm()
    return WEBHOOKS.edit_page(form, subscription, webhooks.update_subscription, values=_values_of(form))


@bp.post("/webhooks/<int:webhook_id>/secret")
@staff_required("webhooks:write")
def webhook_show_secret(webhook_id: int):
    subscription = _confirmed_subscription(webhook_id)
    with db.transaction() as session:
        secret = webhooks.reveal_secret(session, subscription, actor=current_user.actor())
    return _detail_page(subscription, secret=secret)


@bp.post("/webhooks/<int:webhook_id>/rotate-secret")
@staff_required("webhooks:write")
def webhook_rotate_secret(webhook_id: int):
    subscription = _confirmed_subscription(webhook_id)
    with db.transaction() as session:
        webhooks.update_subscription(session, subscription, actor=current_user.actor(),
                                     allow_private=_allow_private(), rotate_secret=True)
    return _detail_page(subscription, secret=subscription.secret)


@bp.post("/webhooks/<int:webhook_id>/test")
@staff_required("webhooks:write")
def webhook_test(webhook_id: int):
    subscription = _confirmed_subscription(webhook_id)
    _run_and_tell(lambda session: webhooks.queue_test(session, subscription, actor=current_user.actor()),
                  lambda delivery: f"Test event {delivery.event_id} queued: the worker sends it within a minute.")
    return redirect(WEBHOOKS.url(subscription))


@bp.post("/webhooks/<int:webhook_id>/delete")
@staff_required("webhooks:write")
def webhook_delete(webhook_id: int):
    subscription = _confirmed_subscription(webhook_id)
    with db.transaction() as session:
        webhooks.delete_subscription(session, subscription, actor=current_user.actor())
    flash(f"Webhook {subscription.name} deleted: nothing more is sent to it.", "success")
    return redirect(url_for("console.webhook_list"))


@bp.post("/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver")
@staff_required("webhooks:write")
def webhook_redeliver(webhook_id: int, delivery_id: int):
    subscription = WEBHOOKS.find(webhook_id)
    if not fits_id(delivery_id):
        abort(404)
    _require_confirmed()
    delivery = webhooks.get_delivery(db.session, subscription, delivery_id)
    _run_and_tell(lambda session: webhooks.redeliver(session, subscription, delivery, actor=current_user.actor()),
                  lambda _: f"Event {delivery.event_id} will be sent again shortly.")
    return redirect(WEBHOOKS.url(subscription))


# --- helpers -----------------------------------------------------------------------------------

def _run_and_tell(action, success) -> None:
    """Run one domain call in its own transaction and flash the outcome; a refusal (a paused webhook, a
    delivery being sent right now) becomes the flashed error."""
    try:
        with db.transaction() as session:
            result = action(session)
    except DomainError as error:
        flash(error.message, "error")
    else:
        flash(success(result), "success")


def _require_confirmed() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


def _confirmed_subscription(webhook_id: int) -> WebhookSubscription:
    """The webhook a POST changes (404 when not the organisation's), once its confirm form checks out (else 400)."""
    subscription = WEBHOOKS.find(webhook_id)
    _require_confirmed()
    return subscription


def _allow_private() -> bool:
    return bool(current_app.config["WEBHOOK_ALLOW_PRIVATE_URLS"])


def _values_of(form: WebhookForm):
    """What a create or an update of a subscription takes from its form, and whether its URL may be private."""
    return lambda: dict(allow_private=_allow_private(), **form.fields())


def _detail_page(subscription: WebhookSubscription, *, secret: str | None = None):
    status_filter = request.args.get("status", "")
    if status_filter not in STATUS_FILTERS:
        status_filter = ""
    now = utcnow()
    stmt = webhooks.deliveries_query(subscription, status=status_filter or None, now=now)
    deliveries = page_of(stmt, DELIVERIES_PER_PAGE, WebhookDelivery.id.desc())
    context = dict(WEBHOOKS.layout(subscription), subscription=subscription, deliveries=deliveries, now=now,
                   labels=EVENT_LABELS, attempts=webhooks.attempts_of(db.session, [d.id for d in deliveries.items]),
                   status_filter=status_filter, status_filters=STATUS_FILTERS, confirm=ConfirmForm(), secret=secret)
    if htmx.target == "delivery-rows":
        return render_page_or_fragment("console/webhooks/detail.html", "console/webhooks/_deliveries.html",
                                       **context)
    response = make_response(render_template("console/webhooks/detail.html", **context))
    if secret:
        response.headers["Cache-Control"] = "no-store"  # the page holds the signing secret
    return response


def _status_counts(subscription_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {i: {} for i in subscription_ids}
    if subscription_ids:
        rows = db.session.execute(select(WebhookDelivery.subscription_id, WebhookDelivery.status, func.count())
                                  .where(WebhookDelivery.subscription_id.in_(subscription_ids))
                                  .group_by(WebhookDelivery.subscription_id, WebhookDelivery.status))
        for subscription_id, status, count in rows:
            counts[subscription_id][status] = count
    return counts
