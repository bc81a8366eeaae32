"""Code guessing is limited per member, per key and per organisation: a key with coupons:write
cannot spread its guesses over many members (RELIABILITY: Access)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.domain import throttle
from portal.domain.coupons import CouponUsage
from portal.domain.throttle import FailedAttempt
from tests.conftest import Api
from tests.factories import make_key, make_member

from .conftest import problem

PER_KEY, PER_ORGANIZATION = 5, 8


@pytest.fixture
def limits(monkeypatch):
    monkeypatch.setitem(throttle.LIMITS, "code-actor", throttle.Limit(PER_KEY, throttle.HOUR))
    monkeypatch.setitem(throttle.LIMITS, "code-organization", throttle.Limit(PER_ORGANIZATION, throttle.HOUR))


@pytest.fixture
def book(api):
    r = api.post("/coupon-books", json={"name": "Free coffee", "type": "REWARD", "publishingStatus": "published"})
    assert r.status_code == 201, r.json
    book = r.json["couponBook"]
    assert api.post(f"/coupon-books/{book['id']}/codes", json={"codes": ["REAL-CODE"]}).status_code == 201
    return book


def guess(api, book, member, n, token=None, code=None):
    return api.post(f"/coupon-books/{book['id']}/use", token=token,
                    json={"memberId": member.id, "code": code or f"GUESS-{n}", "systemUniqueKey": f"guess-{n}"})


def uses(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(CouponUsage))


def test_guesses_spread_over_many_members_run_out_per_key_then_per_organisation(api, session, org, book, limits):
    people = [make_member(session, org) for _ in range(PER_ORGANIZATION + 2)]
    session.commit()
    # One guess per member: the member limit is never reached, the key's is.
    for n in range(PER_KEY):
        assert guess(api, book, people[n], n).status_code == 409
    before = uses(session)
    refused = problem(guess(api, book, people[PER_KEY], "k1-last"), 429)
    assert refused["type"].endswith("/too-many-attempts") and "API key" in refused["detail"]
    # Refused for its real code too: the answer does not depend on the code.
    problem(guess(api, book, people[PER_KEY], "k1-real", code="REAL-CODE"), 429)
    assert uses(session) == before
    # Another key of the organisation has its own allowance, up to the organisation's limit.
    other_key = make_key(session, org, ["coupons:write"])
    session.commit()
    for n in range(PER_KEY, PER_ORGANIZATION):
        assert guess(api, book, people[n], f"k2-{n}", token=other_key).status_code == 409
    refused = problem(guess(api, book, people[PER_ORGANIZATION], "k2-last", token=other_key), 429)
    assert "organisation" in refused["detail"]
    # Using a held or free coupon without naming a code is not guessing.
    assert api.post(f"/coupon-books/{book['id']}/use",
                    json={"memberId": people[-1].id, "systemUniqueKey": "plain"}).status_code == 201
    counted = session.scalar(select(func.count()).select_from(FailedAttempt).where(
        FailedAttempt.scope == "coupon-code-organization"))
    assert counted == PER_ORGANIZATION  # refusals are not counted again


def test_another_organisation_is_not_affected(api, session, org, other_org, book, limits):
    people = [make_member(session, org) for _ in range(PER_KEY)]
    session.commit()
    for n, person in enumerate(people):
        guess(api, book, person, n)
    problem(guess(api, book, people[0], "last"), 429)
    theirs = Api(api.client, other_org)
    their_member = make_member(session, other_org)
    their_book = theirs.post("/coupon-books", json={"name": "Tea", "type": "REWARD",
                                                     "publishingStatus": "published"}).json["couponBook"]
    session.commit()
    assert guess(theirs, their_book, their_member, "theirs").status_code == 409


def test_the_limits_are_in_the_api_documentation(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path in ("/coupon-books/{bookId}/use", "/coupon-books/{bookId}/assign"):
        operation = doc["paths"]["/api/v1/organizations/{organizationId}" + path]["post"]
        limits = throttle.LIMITS
        for name in ("code-member", "code-actor", "code-organization"):
            assert f"({limits[name].attempts}" in operation["description"], (name, operation["description"])
        assert "429" in operation["responses"]
