"""The throttle's counts far from their limits held by one of their slot locks, near them by all (throttle.
lock_and_count), with real commits, on each backend where it applies.

Far from its limit (count + H <= limit, H = throttle.SLOTS), the count of an API key and of the organisation is
locked by one slot drawn at random: two code uses by one key that draw different slots do not wait for each other
(proved with a lock_timeout, not with timings). Near it, every slot is taken, which waits for every holder of one;
a count that turns out near only once its slot is granted is locked again by every slot. And whatever the mode,
of parallel refused guesses exactly the limit reach the check, also where the first of them pass while the count
is far and the rest while it is near (sign-ins from one address: tests/concurrency/test_login_throttle.py).
"""
from __future__ import annotations

import itertools
import threading

import pytest
import requests
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from portal.domain import coupons, members, throttle
from portal.domain.actors import Actor
from portal.domain.coupons.services import (
    CODE_ACTOR_SCOPE,
    CODE_ORGANIZATION_SCOPE,
    CODE_SCOPE,
)
from portal.domain.throttle import FailedAttempt
from portal.extensions import db
from tests import factories

from .live import add_failures, parallel, postgresql_only

pytestmark = pytest.mark.live


def advisory_locks(engine, session: Session) -> int:
    """How many advisory locks `session`'s transaction holds (all exclusive)."""
    pid = session.scalar(text("SELECT pg_backend_pid()"))
    with engine.connect() as probe:
        modes = probe.scalars(text("SELECT mode FROM pg_locks WHERE locktype = 'advisory' AND pid = :pid "
                                   "AND granted"), {"pid": pid}).all()
    assert set(modes) <= {"ExclusiveLock"}, modes
    return len(modes)


@pytest.fixture
def till(live_app, backend, monkeypatch):
    """An organisation, two members and a till's API key; the key's and the organisation's limits at SLOTS + 10
    (so that they are locked by one slot while at most 10 failures are counted), the member's at 10. The slots
    are drawn in turn (0, 1, 2, ...), not at random."""
    postgresql_only(backend, "SQLite runs one writer at a time (BEGIN IMMEDIATE): there are no slots")
    engine = live_app.extensions["portal_db"].engine
    monkeypatch.setitem(throttle.LIMITS, "code-actor", throttle.Limit(throttle.SLOTS + 10, throttle.HOUR))
    monkeypatch.setitem(throttle.LIMITS, "code-organization", throttle.Limit(throttle.SLOTS + 10, throttle.HOUR))
    turn = itertools.count()
    monkeypatch.setattr(throttle, "_slot", lambda: next(turn) % throttle.SLOTS)
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Till")
            ids = [factories.make_member(session, org).id for _ in range(2)]
        db.session.remove()
    key = Actor(kind="api_key", id=7, organization_id=org.id, label="till 7")
    return engine, key, ids, org.id


def _member(session: Session, member_id: int) -> members.Member:
    return session.get(members.Member, member_id)


def test_far_from_the_limit_two_uses_by_one_key_do_not_wait_for_each_other(till):
    engine, key, (first_id, second_id), _ = till
    with Session(engine) as first, Session(engine) as second:
        coupons.serialize_code_attempts(first, _member(first, first_id), actor=key)  # held until it ends
        assert advisory_locks(engine, first) == 3  # the member's lock, one slot of the key's, one of the org's
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        # Another member, the same key (other slots): it would wait for `first` (and fail at the timeout) if the
        # key's or the organisation's count had one lock.
        coupons.serialize_code_attempts(second, _member(second, second_id), actor=key)
        assert advisory_locks(engine, second) == 3
        first.rollback(), second.rollback()


def test_near_the_limit_a_use_waits_for_every_holder_of_a_slot(till):
    engine, key, (first_id, second_id), org_id = till
    with Session(engine) as first, Session(engine) as second:
        coupons.serialize_code_attempts(first, _member(first, first_id), actor=key)  # far: one slot
        add_failures(engine, CODE_ACTOR_SCOPE, f"{org_id}:{key.kind}:{key.id}", 11)  # now count + H > limit
        second.execute(text("SET LOCAL lock_timeout = '300ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            coupons.serialize_code_attempts(second, _member(second, second_id), actor=key)
        second.rollback()
        first.rollback()  # the holder of one slot ends: now every slot is granted at once
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        coupons.serialize_code_attempts(second, _member(second, second_id), actor=key)
        # the member's lock, every slot of the key's, one slot of the organisation's (still far)
        assert advisory_locks(engine, second) == 1 + throttle.SLOTS + 1
        second.rollback()


def test_a_count_found_near_under_one_slot_is_locked_again_by_every_slot(till, monkeypatch):
    """The locking statement reads the count before it waits: failures committed while it waits make the count
    read after the lock near the limit, which one slot cannot decide."""
    engine, key, (_, member_id), org_id = till
    monkeypatch.setattr(throttle, "_slot", lambda: 5)
    member_key, key_key = f"{org_id}:{member_id}", f"{org_id}:{key.kind}:{key.id}"
    locks = [(CODE_SCOPE, member_key, None), (CODE_ACTOR_SCOPE, key_key, "code-actor"),
             (CODE_ORGANIZATION_SCOPE, str(org_id), "code-organization")]
    counts = [(scope, k, throttle.HOUR) for scope, k, _ in locks]
    result: dict = {}
    with Session(engine) as holder, Session(engine) as waiter:
        # another transaction holding the key's slot 5
        holder.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                       {"id": throttle._lock_id(CODE_ACTOR_SCOPE, f"{key_key}\x1f5")})

        def use() -> None:
            waiter.execute(text("SET LOCAL lock_timeout = '20s'"))
            result["counts"] = throttle.lock_and_count(waiter, locks, counts)
            result["locks"] = advisory_locks(engine, waiter)

        thread = threading.Thread(target=use)
        thread.start()
        waiter_pid = None
        with engine.connect() as probe:  # until the waiter waits for the key's slot (its count read: 0, far)
            for _ in range(2000):
                waiter_pid = probe.scalar(text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' "
                                               "AND NOT granted"))
                if waiter_pid is not None or not thread.is_alive():
                    break
                probe.execute(text("SELECT pg_sleep(0.01)"))
        assert waiter_pid is not None, result
        holder.execute(insert(FailedAttempt), [{"scope": CODE_ACTOR_SCOPE, "key_hash": throttle._hash(key_key)}] * 11)
        holder.commit()  # 11 failures: 11 + H > limit = H + 10, and 11 < limit: undecided under one slot
        thread.join(timeout=30)
        assert result["counts"] == [0, 11, 0]
        # Let go of and taken again: the member's lock and every slot of the key's and the organisation's
        # (was: one slot of the key's, over a near count).
        assert result["locks"] == 1 + 2 * throttle.SLOTS
        waiter.rollback()


# --- N parallel refused attempts: exactly the limit reach the check -------------------------------------------

def _guesses(live_server, org, book, member_ids: list[int], n: int) -> list[int]:
    url = f"{live_server.url}/api/v1/organizations/{org.id}/coupon-books/{book.id}/use"

    def guess(i: int) -> int:
        body = {"memberId": member_ids[i % len(member_ids)], "code": f"GUESS-{i}", "systemUniqueKey": f"g-{i}"}
        return requests.post(url, json=body, headers={"Authorization": f"Bearer {org.api_key}"},
                             timeout=300).status_code

    return parallel(n, guess, threads=16)


def _counted(live_app, scope: str) -> int:
    with live_app.app_context():
        count = db.session.scalar(select(func.count()).select_from(FailedAttempt).where(FailedAttempt.scope == scope))
        db.session.remove()
    return count


@pytest.fixture
def guessing(live_app):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Guessing")
            member_ids = [factories.make_member(session, org).id for _ in range(40)]
            book = coupons.create_book(session, org.id, actor=org.actor, name="Free coffee", type=coupons.REWARD,
                                       publishing_status=coupons.PUBLISHED)
            coupons.import_codes(session, book, ["REAL-CODE"], actor=org.actor)
        db.session.remove()
    return org, book, member_ids


def test_parallel_guesses_from_far_to_past_the_key_limit_are_checked_exactly_the_limit(
        live_app, live_server, backend, guessing, monkeypatch):
    """The first guesses pass while the key's count is far from its limit (one slot), the last ones near it
    (every slot): exactly `limit` reach the code check over both."""
    org, book, member_ids = guessing
    # The limit is H + 10: the first 10 failures (or so) counted under one slot, the rest under every slot.
    limit = throttle.SLOTS + 10 if backend == "postgresql" else 30
    monkeypatch.setitem(throttle.LIMITS, "code-member", throttle.Limit(10**6, throttle.HOUR))
    monkeypatch.setitem(throttle.LIMITS, "code-actor", throttle.Limit(limit, throttle.HOUR))
    monkeypatch.setitem(throttle.LIMITS, "code-organization", throttle.Limit(10**6, throttle.HOUR))

    statuses = _guesses(live_server, org, book, member_ids, limit + 20)

    assert sorted(statuses) == [409] * limit + [429] * 20, sorted(statuses)
    assert _counted(live_app, CODE_ACTOR_SCOPE) == limit


def test_parallel_guesses_near_the_organisation_limit_are_checked_exactly_the_limit(
        live_app, live_server, backend, guessing, monkeypatch):
    org, book, member_ids = guessing
    engine = live_app.extensions["portal_db"].engine
    limit = throttle.SLOTS + 10 if backend == "postgresql" else 30  # a limit that may be held by one slot
    monkeypatch.setitem(throttle.LIMITS, "code-member", throttle.Limit(10**6, throttle.HOUR))
    monkeypatch.setitem(throttle.LIMITS, "code-actor", throttle.Limit(10**6, throttle.HOUR))
    monkeypatch.setitem(throttle.LIMITS, "code-organization", throttle.Limit(limit, throttle.HOUR))
    add_failures(engine, CODE_ORGANIZATION_SCOPE, str(org.id), limit - 5)  # 5 left, near: exclusive

    statuses = _guesses(live_server, org, book, member_ids, 24)

    assert sorted(statuses) == [409] * 5 + [429] * 19, sorted(statuses)
    assert _counted(live_app, CODE_ORGANIZATION_SCOPE) == limit
