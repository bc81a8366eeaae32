"""Webhooks without HTTP: which receiver URLs are refused, signatures, the event types that reach a
subscription from their own use cases, and the delivery state machine (claim, lease, backoff,
order per member, redelivery) driven by an injected clock."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from portal.domain import (campaigns, coupons, earning, enrolment, expiry, jobs, members, missions, orders, points,
                           referrals, tiers, webhooks)
from portal.domain.errors import Conflict, NotFound, ValidationFailed
from portal.domain.ledger import LedgerAccount, Reason
from portal.domain.orders import ItemInput, OrderInput
from portal.domain.outbox import OutboxEvent
from portal.domain.webhooks import ReceiverRefused, WebhookAttempt, WebhookDelivery
from tests import factories

UTC = dt.timezone.utc
LEASE = dt.timedelta(seconds=60)
PUBLIC_URL = "https://hooks.partner.example/portal"  # .example never resolves: accepted, checked per delivery


def subscribe(session, org, event_types=webhooks.EVENT_TYPES, **fields):
    fields.setdefault("name", "Partner CRM")
    fields.setdefault("url", PUBLIC_URL)
    return webhooks.create_subscription(session, org.id, actor=org.actor, event_types=list(event_types),
                                        allow_private=False, **fields)


def drain(session):
    while jobs.drain_outbox(session):
        pass


def deliveries(session, subscription):
    return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
                                .order_by(WebhookDelivery.id)))


def attempts(session, delivery):
    return list(session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id)
                                .order_by(WebhookAttempt.number)))


def answer(status: int | None, error: str = "") -> webhooks.AttemptResult:
    return webhooks.AttemptResult(status_code=status, latency_ms=12, response_excerpt=f"answer {status}", error=error)


def later(seconds: float = 0, **delta) -> dt.datetime:
    return webhooks.utcnow() + dt.timedelta(seconds=seconds, **delta)


# --- receivers --------------------------------------------------------------------------------

@pytest.mark.parametrize("url, says", [
    ("http://127.0.0.1:8000/hook", "loopback"),
    ("http://localhost/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("https://192.168.0.10/hook", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://0.0.0.0/", "not a host address"),
    ("ftp://hooks.partner.example/x", "Only http and https"),
    ("javascript:alert(1)", "Only http and https"),
    ("file:///etc/passwd", "Only http and https"),
    ("https:///no-host", "needs a host"),
    ("https://user:secret@hooks.partner.example/", "no user name or password"),
    ("https://hooks.partner.example:99999/", "port"),
    ("https://hooks.partner.example/a b", "without spaces"),
])
def test_refused_receiver_urls(url, says):
    with pytest.raises(ReceiverRefused) as refused:
        webhooks.check_receiver_url(url, allow_private=False)
    assert refused.value.field == "url" and says in refused.value.message


def test_public_addresses_and_unresolved_names_are_accepted():
    assert webhooks.check_receiver_url(" https://93.184.216.34/hook ", allow_private=False) == \
        "https://93.184.216.34/hook"
    assert webhooks.check_receiver_url(PUBLIC_URL, allow_private=False) == PUBLIC_URL


def test_a_name_that_resolves_to_a_private_address_is_refused():
    resolve = lambda host, port: ["93.184.216.34", "10.0.0.7"]  # noqa: E731  (one bad address is enough)
    with pytest.raises(ReceiverRefused, match="10.0.0.7 is a private"):
        webhooks.check_receiver_url("https://sneaky.partner.example/", allow_private=False, resolve=resolve)


def test_the_setting_admits_loopback_and_private_networks_but_never_link_local():
    for url in ("http://127.0.0.1:9/x", "http://localhost/", "http://10.0.0.1/", "http://[::1]/"):
        assert webhooks.check_receiver_url(url, allow_private=True) == url
    for url in ("http://169.254.169.254/", "http://0.0.0.0/", "http://224.0.0.1/"):
        with pytest.raises(ReceiverRefused):
            webhooks.check_receiver_url(url, allow_private=True)


def test_signature_is_standard_webhooks():
    # The reference vector of the Standard Webhooks specification.
    assert webhooks.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                         b'{"test": 2432232314}') == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_retry_delays_double_from_30_seconds_to_6_hours_with_jitter():
    low, high = (lambda n: webhooks.retry_delay(n, rng=lambda: 0.0)), (lambda n: webhooks.retry_delay(n, lambda: 1.0))
    assert [high(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert [low(n).total_seconds() for n in (1, 2, 3, 4)] == [15, 30, 60, 120]
    assert high(20) == dt.timedelta(hours=6) and low(20) == dt.timedelta(hours=3)
    assert high(5000) == dt.timedelta(hours=6)  # redelivered many times: no overflow


# --- subscriptions ----------------------------------------------------------------------------

def test_create_keeps_the_settings_and_a_fresh_secret(session, org):
    subscription = subscribe(session, org, ["member-created", "member-created", "coupon-code-used"])
    other = subscribe(session, org)
    assert subscription.event_types == ["member-created", "coupon-code-used"]
    assert subscription.secret.startswith("whsec_") and subscription.secret != other.secret
    old = subscription.secret
    webhooks.update_subscription(session, subscription, actor=org.actor, allow_private=False, rotate_secret=True)
    assert subscription.secret != old
    with pytest.raises(ReceiverRefused):
        webhooks.update_subscription(session, subscription, actor=org.actor, allow_private=False,
                                     url="http://10.0.0.1/")
    for event_types, field in (([], "eventTypes"), (["member-exploded"], "eventTypes")):
        with pytest.raises(ValidationFailed) as refused:
            subscribe(session, org, event_types)
        assert refused.value.field == field


def test_events_are_queued_for_each_subscription_that_wants_them(session, org, other_org):
    wants_members = subscribe(session, org, ["member-created"])
    wants_points = subscribe(session, org, ["ledger-transaction-created"])
    paused = subscribe(session, org, ["member-created"], active=False)
    elsewhere = subscribe(session, other_org, ["member-created"])
    member = factories.make_member(session, org)
    drain(session)

    [delivery] = deliveries(session, wants_members)
    body = json.loads(delivery.body)
    assert body["type"] == "member-created" and body["id"] == delivery.event_id
    assert body["id"].startswith("evt_") and body["organizationId"] == org.id
    assert body["data"] == {"memberId": member.id}
    assert (delivery.status, delivery.member_id, delivery.attempt_count) == ("pending", member.id, 0)
    assert delivery.deadline_at - delivery.created_at == webhooks.RETRY_WINDOW
    assert deliveries(session, wants_points) == deliveries(session, paused) == deliveries(session, elsewhere) == []
    drain(session)
    assert len(deliveries(session, wants_members)) == 1  # an event is queued once


def test_every_subscribable_event_reaches_a_subscription(session, org):
    """Each event type comes from the use case that causes it, in the same transaction."""
    subscription = subscribe(session, org)
    program, actor = org.program, org.actor
    campaigns.add_action(session, campaigns.create_campaign(session, org.id, code="EARN", name="1 per euro",
                                                            actor=actor),
                         actor=actor, rules_text=["order.total > 0"],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"}])
    missions.create_mission(session, org.id, actor=actor, name="First buy", event_type=earning.PURCHASE_CONFIRMED,
                            goal_count=1)
    friends = referrals.create_program(session, org.id, actor=actor, name="Friends", referrer_points=10)
    ann = factories.make_member(session, org, givenName="Ann")
    code = referrals.create_code(session, friends, ann, actor=actor)
    bob, _ = enrolment.enrol_member(session, org.id, actor=actor, referral_code=code.code,
                                    profile={"email": "bob@example.com", "givenName": "Bob"})
    members.update_member(session, bob, actor=actor, profile={"city": "Berlin"})
    gold = factories.make_tiers(session, org)[2]
    tiers.set_tier(session, bob.id, program, gold, actor=actor)
    tiers.set_tier(session, bob.id, program, None, actor=actor)
    account = factories.points_account(session, org)
    wallet = factories.wallet_of(session, org, bob)
    points.post_transaction(session, org.id, points.TransferRequest(amount=40, ledger_account_id=account.id,
                                                                     to_wallet_id=wallet.id), actor=actor)
    points.post_transaction(session, org.id, points.TransferRequest(amount=15, ledger_account_id=account.id,
                                                                     from_wallet_id=wallet.id), actor=actor)
    book = coupons.create_book(session, org.id, actor=actor, name="Coffee", type=coupons.REWARD,
                               publishing_status=coupons.PUBLISHED)
    coupons.import_codes(session, book, ["COFFEE-1"], actor=actor)
    coupons.assign_coupons(session, bob, book, actor=actor)
    coupons.use_coupon(session, bob, book, actor=actor, code="COFFEE-1", system_unique_key="use-1")

    def order(status, **extra):
        return OrderInput(external_id="o-1", status=status, total=Decimal("20.00"),
                          items=[ItemInput(sku="A", quantity=1, unit_price=Decimal("20.00"))], **extra)

    orders.record_order(session, bob, order("confirmed"), actor=actor)
    orders.record_order(session, bob, order("partially-returned", returned_total=Decimal("5.00")), actor=actor)
    orders.record_order(session, bob, order("returned"), actor=actor)
    drain(session)

    sent = [json.loads(d.body) for d in deliveries(session, subscription)]
    assert {b["type"] for b in sent} == set(webhooks.EVENT_TYPES)
    bobs = [b for b in sent if b["data"]["memberId"] == bob.id]
    points_moved = [(b["data"]["type"], b["data"]["amount"]) for b in bobs if b["type"] == "ledger-transaction-created"]
    # the API mint and burn, the purchase's points, the partial return and the full return taking them back
    assert ("mint", 40) in points_moved and ("burn", 15) in points_moved and ("mint", 20) in points_moved
    assert ("burn", 5) in points_moved and points_moved[-1] == ("burn", 15)
    assert [b["data"].get("fields") for b in bobs if b["type"] == "member-updated"] == [["profile.city"]]
    assert len({b["id"] for b in sent}) == len(sent)


def test_expired_points_are_announced_as_burned(session, org):
    account = session.get(LedgerAccount, org.program.points_account_id)
    account.expires_in_months = 1
    with time_machine.travel(dt.datetime(2026, 1, 1, tzinfo=UTC), tick=False):
        subscription = subscribe(session, org, ["ledger-transaction-created"])
        member = factories.make_member(session, org)
    with time_machine.travel(dt.datetime(2026, 1, 10, tzinfo=UTC), tick=False):
        points.mint_to_member(session, member, 30, actor=org.actor, reason=Reason(description="January"))
    with time_machine.travel(dt.datetime(2026, 3, 1, tzinfo=UTC), tick=False):
        assert expiry.expire_due(session) == 30
    drain(session)
    moved = [json.loads(d.body)["data"] for d in deliveries(session, subscription)]
    assert [(m["type"], m["amount"]) for m in moved] == [("mint", 30), ("burn", 30)]


# --- delivery state machine -------------------------------------------------------------------

@pytest.fixture
def queued(session, org):
    """A subscription with one queued member-created delivery."""
    subscription = subscribe(session, org, ["member-created", "member-updated"])
    member = factories.make_member(session, org)
    drain(session)
    return subscription, member, deliveries(session, subscription)[0]


def test_a_claim_is_leased_and_a_dead_workers_claim_expires(session, queued):
    subscription, _, delivery = queued
    now = later()
    first = webhooks.claim_next(session, now=now, lease=LEASE)
    assert (first.delivery_id, first.number, first.url, first.secret) == \
        (delivery.id, 1, subscription.url, subscription.secret)
    assert first.body == delivery.body and delivery.state(now) == "running"
    assert webhooks.claim_next(session, now=now + LEASE - dt.timedelta(seconds=1), lease=LEASE) is None
    # the worker died: no answer recorded; once the lease runs out another worker takes over
    second = webhooks.claim_next(session, now=now + LEASE, lease=LEASE)
    assert (second.delivery_id, second.number, second.event_id, second.body) == \
        (delivery.id, 2, first.event_id, first.body)
    assert second.token != first.token
    log = attempts(session, delivery)
    assert [(a.number, a.outcome) for a in log] == [(1, "abandoned"), (2, None)]
    # the first worker's late answer is logged but moves nothing: it no longer holds the claim
    assert webhooks.record_outcome(session, first, answer(200), now=now + LEASE) == "lost"
    assert delivery.status == "pending" and delivery.claim_token == second.token
    assert webhooks.record_outcome(session, second, answer(204), now=now + LEASE) == "success"
    assert (delivery.status, delivery.last_status_code, delivery.claimed_until) == ("success", 204, None)
    assert [(a.number, a.outcome, a.status_code) for a in attempts(session, delivery)] == \
        [(1, "success", 200), (2, "success", 204)]
    assert webhooks.claim_next(session, now=now + dt.timedelta(days=1), lease=LEASE) is None


def test_failures_back_off_exponentially_then_fail_after_3_days(session, queued):
    _, _, delivery = queued
    start = delivery.created_at
    now, waits = start, []
    while True:
        claim = webhooks.claim_next(session, now=now, lease=LEASE)
        assert claim is not None, f"nothing due at attempt {len(waits) + 1}"
        assert webhooks.claim_next(session, now=now, lease=LEASE) is None  # not twice at once
        status = webhooks.record_outcome(session, claim, answer(503), now=now, rng=lambda: 1.0)
        if status == "failed":
            break
        assert webhooks.claim_next(session, now=delivery.next_attempt_at - dt.timedelta(seconds=1),
                                   lease=LEASE) is None  # not before its time
        waits.append((delivery.next_attempt_at - now).total_seconds())
        now = delivery.next_attempt_at
    assert waits[:5] == [30, 60, 120, 240, 480] and max(waits) == 6 * 3600
    assert dt.timedelta(days=3) - dt.timedelta(hours=6) <= now - start <= dt.timedelta(days=3)
    log = attempts(session, delivery)
    assert len(log) == delivery.attempt_count == len(waits) + 1
    assert all((a.outcome, a.status_code, a.response_excerpt) == ("failed", 503, "answer 503") for a in log)
    assert (delivery.status, delivery.finished_at) == ("failed", now)
    assert webhooks.claim_next(session, now=now + dt.timedelta(days=9), lease=LEASE) is None


def test_a_members_events_go_out_in_order(session, org, queued):
    subscription, member, first = queued
    members.update_member(session, member, actor=org.actor, profile={"city": "Bonn"})
    drain(session)
    second = deliveries(session, subscription)[1]
    other = factories.make_member(session, org)
    drain(session)
    third = deliveries(session, subscription)[2]
    now = later()
    claim = webhooks.claim_next(session, now=now, lease=LEASE)
    assert claim.delivery_id == first.id
    webhooks.record_outcome(session, claim, answer(500), now=now, rng=lambda: 1.0)
    # the member's update waits behind their creation; another member's event does not
    claim = webhooks.claim_next(session, now=now, lease=LEASE)
    assert claim.delivery_id == third.id and third.member_id == other.id
    webhooks.record_outcome(session, claim, answer(200), now=now)
    assert webhooks.claim_next(session, now=now, lease=LEASE) is None
    retry_at = first.next_attempt_at
    claim = webhooks.claim_next(session, now=retry_at, lease=LEASE)
    assert claim.delivery_id == first.id
    webhooks.record_outcome(session, claim, answer(200), now=retry_at)
    assert webhooks.claim_next(session, now=retry_at, lease=LEASE).delivery_id == second.id


def test_an_undrained_earlier_event_holds_back_the_members_later_ones(session, org, queued):
    subscription, member, first = queued
    members.update_member(session, member, actor=org.actor, profile={"city": "Bonn"})
    drain(session)
    session.get(OutboxEvent, first.outbox_event_id).processed_at = None  # as if another worker still drains it
    first.status = "success"
    session.flush()
    assert webhooks.claim_next(session, now=later(), lease=LEASE) is None
    session.get(OutboxEvent, first.outbox_event_id).processed_at = later()
    assert webhooks.claim_next(session, now=later(), lease=LEASE).delivery_id == deliveries(session, subscription)[1].id


def test_paused_and_deleted_subscriptions_receive_nothing(session, org, queued):
    subscription, _, delivery = queued
    webhooks.update_subscription(session, subscription, actor=org.actor, allow_private=False, active=False)
    assert webhooks.claim_next(session, now=later(), lease=LEASE) is None
    webhooks.update_subscription(session, subscription, actor=org.actor, allow_private=False, active=True)
    assert webhooks.claim_next(session, now=later(), lease=LEASE).delivery_id == delivery.id
    webhooks.delete_subscription(session, subscription, actor=org.actor)
    assert webhooks.claim_next(session, now=later(minutes=5), lease=LEASE) is None
    with pytest.raises(NotFound):
        webhooks.get_subscription(session, org.id, subscription.id)


def test_redeliver_sends_the_same_event_again_with_a_fresh_window(session, org, queued):
    subscription, _, delivery = queued
    claim = webhooks.claim_next(session, now=later(), lease=LEASE)
    with pytest.raises(Conflict):
        webhooks.redeliver(session, subscription, delivery, actor=org.actor)  # a worker is sending it
    webhooks.record_outcome(session, claim, answer(200), now=later())
    body, event_id = delivery.body, delivery.event_id
    webhooks.redeliver(session, subscription, delivery, actor=org.actor)
    assert (delivery.status, delivery.finished_at, delivery.body, delivery.event_id) == ("pending", None, body,
                                                                                         event_id)
    again = webhooks.claim_next(session, now=later(1), lease=LEASE)
    assert (again.delivery_id, again.number, again.event_id) == (delivery.id, 2, event_id)


def test_a_test_event_goes_to_one_subscription(session, org, queued):
    subscription, _, _ = queued
    other = subscribe(session, org, ["member-created"])
    test = webhooks.queue_test(session, subscription, actor=org.actor)
    body = json.loads(test.body)
    assert (body["type"], body["data"]["webhookId"], test.member_id) == ("webhook-test", subscription.id, None)
    assert deliveries(session, other) == []
    webhooks.update_subscription(session, subscription, actor=org.actor, allow_private=False, active=False)
    with pytest.raises(Conflict):
        webhooks.queue_test(session, subscription, actor=org.actor)
