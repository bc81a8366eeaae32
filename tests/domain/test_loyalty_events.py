"""Custom event types, tracking with systemUniqueKey, and the member's event feed."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from portal.domain import earning, custom_events, missions, orders, points, tiers
from portal.domain.errors import DuplicateValue, IdempotencyKeyReused, ValidationFailed
from portal.domain.outbox import OutboxEvent
from portal.domain.ledger import Reason
from portal.domain.orders import ItemInput, OrderInput
from tests import factories

from .conftest import fails_cleanly, row_counts

UTC = dt.timezone.utc


@pytest.fixture
def review_type(session, org):
    return custom_events.create_event_type(session, org.id, name="app-review-written", actor=org.actor,
                                            description="A review in the app store")


@pytest.fixture
def member(session, org):
    return factories.make_member(session, org)


# --- event types ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["AB", "Has Space", "UPPER-case", "-leading", "x" * 101])
def test_event_type_names_are_slugs(session, org, name):
    with fails_cleanly(session, ValidationFailed) as info:
        custom_events.create_event_type(session, org.id, name=name, actor=org.actor)
    assert info.value.field == "name"


def test_event_types_are_unique_per_organisation_and_never_built_in(session, org, other_org, review_type):
    with fails_cleanly(session, DuplicateValue):
        custom_events.create_event_type(session, org.id, name="app-review-written", actor=org.actor)
    assert custom_events.create_event_type(session, other_org.id, name="app-review-written", actor=other_org.actor)
    with fails_cleanly(session, ValidationFailed) as info:
        custom_events.create_event_type(session, org.id, name=earning.PURCHASE_CONFIRMED, actor=org.actor)
    assert "built-in" in info.value.message


def test_known_event_types(session, org, review_type):
    assert custom_events.is_known(session, org.id, earning.PURCHASE_CONFIRMED)
    assert custom_events.is_known(session, org.id, "app-review-written")
    assert not custom_events.is_known(session, org.id, "no-such-thing")
    custom_events.update_event_type(session, review_type, actor=org.actor, active=False)
    assert not custom_events.is_known(session, org.id, "app-review-written")


# --- tracking --------------------------------------------------------------------------------------------

def test_tracking_records_an_outbox_event_and_returns_the_effects(session, org, member, review_type):
    m = missions.create_mission(session, org.id, actor=org.actor, name="Review us", event_type="app-review-written",
                                goal_count=1, points_on_completion=40, max_repetitions=1,
                                matcher="event.stars >= 4")
    low = custom_events.track_event(session, member, "app-review-written", {"stars": 2}, actor=org.actor,
                                     system_unique_key="review-1")
    assert low.effects == []
    tracked = custom_events.track_event(session, member, "app-review-written", {"stars": 5}, actor=org.actor,
                                         system_unique_key="review-2",
                                         external_event_date=dt.datetime(2026, 5, 1, tzinfo=UTC))
    assert [e["type"] for e in tracked.effects] == ["increment_mission", "mission_completed"]
    assert tracked.effects[1]["points"] == 40 and tracked.effects[1]["source"] == f"mission:{m.id}"
    row = session.get(OutboxEvent, tracked.outbox_event_id)
    assert (row.event_type, row.member_id, row.payload["payload"], row.payload["systemUniqueKey"]) == (
        "app-review-written", member.id, {"stars": 5}, "review-2")


def test_unknown_inactive_and_built_in_types_are_refused_on_event_type(session, org, member, review_type):
    counts = row_counts(session)
    for name in ("no-such-event", earning.PURCHASE_CONFIRMED):
        with fails_cleanly(session, ValidationFailed) as info:
            custom_events.track_event(session, member, name, {}, actor=org.actor, system_unique_key=f"k-{name}")
        assert info.value.field == "eventType"
    custom_events.update_event_type(session, review_type, actor=org.actor, active=False)
    counts = row_counts(session)
    with fails_cleanly(session, ValidationFailed) as info:
        custom_events.track_event(session, member, "app-review-written", {}, actor=org.actor,
                                   system_unique_key="k-inactive")
    assert info.value.field == "eventType" and "not active" in info.value.message
    assert row_counts(session) == counts  # nothing stored, not even the key


def test_the_generic_event_can_be_tracked(session, org, member):
    tracked = custom_events.track_event(session, member, custom_events.GENERIC_EVENT, {"what": "visit"},
                                         actor=org.actor, system_unique_key="g-1")
    assert session.get(OutboxEvent, tracked.outbox_event_id).event_type == "member-generic-event"


def test_a_replay_returns_the_same_effects_and_changes_nothing(session, org, member, review_type):
    missions.create_mission(session, org.id, actor=org.actor, name="Review", event_type="app-review-written",
                            goal_count=1, points_on_completion=10)
    first = custom_events.track_event(session, member, "app-review-written", {"stars": 5}, actor=org.actor,
                                       system_unique_key="same")
    counts = row_counts(session)
    replay = custom_events.track_event(session, member, "app-review-written", {"stars": 5}, actor=org.actor,
                                        system_unique_key="same")
    assert replay.replayed and not first.replayed
    assert replay.effects == first.effects and replay.effects[1]["points"] == 10
    assert row_counts(session) == counts
    with fails_cleanly(session, IdempotencyKeyReused) as info:
        custom_events.track_event(session, member, "app-review-written", {"stars": 4}, actor=org.actor,
                                   system_unique_key="same")
    assert info.value.field == "systemUniqueKey"


# --- the feed ---------------------------------------------------------------------------------------------

def test_feed_lists_the_members_events_newest_first(session, org, member, review_type):
    other = factories.make_member(session, org)
    bronze, silver, gold = factories.make_tiers(session, org)
    tiers.set_tier(session, member.id, org.program, gold, actor=org.actor)
    points.mint_to_member(session, member, 25, actor=org.actor, reason=Reason(description="welcome"))
    missions.create_mission(session, org.id, actor=org.actor, name="First buy", event_type=earning.PURCHASE_CONFIRMED,
                            goal_count=1, max_repetitions=1)
    orders.record_order(session, member, OrderInput(external_id="feed-1", status="confirmed", total=Decimal("5"),
                                                    items=[ItemInput(sku="A", quantity=1, unit_price=Decimal("5"))]),
                        actor=org.actor)
    custom_events.track_event(session, other, "app-review-written", {}, actor=org.actor, system_unique_key="o-1")

    feed = session.scalars(custom_events.feed_query(org.id, member.id).order_by(OutboxEvent.id.desc())).all()
    types = [e.event_type for e in feed]
    assert types[-1] == "member-created"
    for expected in ("member-tier-set", "ledger-transaction-created", "member-purchase-order-confirmed",
                     "mission-status-updated"):
        assert expected in types
    assert types.index("mission-status-updated") < types.index("member-tier-set")  # newest first
    assert all(e.member_id == member.id for e in feed)
    assert "app-review-written" not in types  # the other member's
    summaries = {e.event_type: custom_events.summarise(e) for e in feed}
    assert summaries["member-created"] == "Joined the programme"
    assert summaries["mission-status-updated"] == "Mission completed: First buy"
    assert summaries["ledger-transaction-created"] == "Points +25"


def test_feed_filters_by_type_and_date(session, org, member, review_type):
    custom_events.track_event(session, member, "app-review-written", {}, actor=org.actor, system_unique_key="f-1")
    only = session.scalars(custom_events.feed_query(org.id, member.id, event_type="app-review-written")).all()
    assert [e.event_type for e in only] == ["app-review-written"]
    future = dt.datetime(2099, 1, 1, tzinfo=UTC)
    assert session.scalars(custom_events.feed_query(org.id, member.id, from_created_at=future)).all() == []


def test_feed_of_another_organisation_is_empty(session, org, other_org, member):
    assert factories.first(session, OutboxEvent, OutboxEvent.member_id == member.id) is not None
    assert session.scalars(custom_events.feed_query(other_org.id, member.id)).all() == []
