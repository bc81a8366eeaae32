"""The counts `throttle.lock_and_count` reads under its locks are reused by `check_limits` in the same transaction
only while those locks are held and nothing changed the failures: a savepoint they were taken in and then rolled
back to lets go of the locks, and `clear` deletes failures."""
from __future__ import annotations

import pytest

from portal.domain import throttle

from ..statements import counting

SCOPE, KEY = "code-member", "member-1"
LOCKS, COUNTS = [(SCOPE, KEY, None)], [(SCOPE, KEY, throttle.LIMITS["code-member"].window)]
CHECK = [(SCOPE, KEY, "code-member", "Too many refused codes")]


def count_statements(session) -> int:
    with counting(session) as seen:
        throttle.check_limits(session, CHECK)
    return len(seen.touching("failed_attempts"))


def test_counts_read_under_the_locks_are_reused_while_the_locks_are_held(session):
    throttle.lock_and_count(session, LOCKS, COUNTS)
    assert count_statements(session) == 0


def test_counts_are_read_again_after_the_savepoint_they_were_read_in_rolls_back(session):
    nested = session.begin_nested()
    throttle.lock_and_count(session, LOCKS, COUNTS)
    nested.rollback()
    assert count_statements(session) == 1


def test_counts_are_read_again_after_clear(session):
    throttle.lock_and_count(session, LOCKS, COUNTS)
    throttle.clear(session, SCOPE, KEY)
    assert count_statements(session) == 1


def test_a_failure_recorded_after_the_count_is_counted(session, monkeypatch):
    monkeypatch.setitem(throttle.LIMITS, "code-member", throttle.Limit(1, throttle.HOUR))
    throttle.lock_and_count(session, LOCKS, COUNTS)
    throttle.check_limits(session, CHECK)
    throttle.record_failure(session, SCOPE, KEY)
    with pytest.raises(throttle.TooManyAttempts):
        throttle.check_limits(session, CHECK)
