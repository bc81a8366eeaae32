"""Code guessing under parallel requests against a live server (real commits), on each backend:
30 wrong codes for one member sent together; exactly the per-member limit of them reach the code
check (409 coupon-code-not-usable, counted), the rest are refused with 429 before it."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from portal.domain import coupons, throttle
from portal.domain.throttle import FailedAttempt
from portal.extensions import db
from tests import factories

from .live import parallel

pytestmark = pytest.mark.live

GUESSES, PER_MEMBER = 30, 6


def test_parallel_wrong_codes_for_one_member_are_checked_exactly_the_limit(live_app, live_server, monkeypatch):
    monkeypatch.setitem(throttle.LIMITS, "code-member", throttle.Limit(PER_MEMBER, throttle.HOUR))
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Guessing")
            member = factories.make_member(session, org)
            book = coupons.create_book(session, org.id, actor=org.actor, name="Free coffee", type=coupons.REWARD,
                                       publishing_status=coupons.PUBLISHED)
            coupons.import_codes(session, book, ["REAL-CODE"], actor=org.actor)
        db.session.remove()
    url = f"{live_server.url}/api/v1/organizations/{org.id}/coupon-books/{book.id}/use"

    def guess(i: int) -> int:
        body = {"memberId": member.id, "code": f"GUESS-{i}", "systemUniqueKey": f"guess-{i}"}
        return requests.post(url, json=body, headers={"Authorization": f"Bearer {org.api_key}"},
                             timeout=120).status_code

    statuses = parallel(GUESSES, guess, threads=GUESSES)
    assert sorted(statuses) == [409] * PER_MEMBER + [429] * (GUESSES - PER_MEMBER), statuses
    with live_app.app_context():
        counted = db.session.scalar(select(func.count()).select_from(FailedAttempt)
                                    .where(FailedAttempt.scope == "coupon-code"))
        db.session.remove()
    assert counted == PER_MEMBER
