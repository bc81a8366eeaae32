"""Mission and referral limits hold under parallel requests against a live server, on both databases."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from portal.domain import earning, enrolment, missions, referrals
from portal.extensions import db
from tests import factories

from .live import balance_of, capped_campaign, confirm_purchase, parallel

pytestmark = pytest.mark.live


def test_parallel_increments_never_exceed_max_repetitions(live_app, live_server):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Missions")
            mission = missions.create_mission(session, org.id, actor=org.actor, name="Two stamps", goal_count=2,
                                              event_type=earning.PURCHASE_CONFIRMED, max_repetitions=5,
                                              points_on_completion=10)
            member = factories.make_member(session, org)
            org_id, member_id, mission_id, key = org.id, member.id, mission.id, org.api_key
            account_id = org.program.points_account_id

    url = f"{live_server.url}/api/v1/organizations/{org_id}/members/{member_id}/missions/{mission_id}/increment"

    def increment(n: int):
        r = requests.post(url, json={"amount": 1, "systemUniqueKey": f"inc-{n}"},
                          headers={"Authorization": f"Bearer {key}"}, timeout=60)
        return r.status_code, r.json()

    results = parallel(40, increment)
    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200][:3]
    completions = sum(1 for _, body in results for e in body["effects"] if e["type"] == "mission_completed")
    assert completions == 5
    assert balance_of(live_app, account_id, member_id) == 50
    with live_app.app_context():
        rows = db.session.scalars(select(missions.MissionProgress).where(
            missions.MissionProgress.mission_id == mission_id)).all()
        assert [(r.period_key, r.completions, r.counter) for r in rows] == [("all", 5, 0)]
        db.session.remove()


def test_parallel_purchases_respect_the_period_limit(live_app, live_server):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Daily")
            # A capped campaign too: once the cap is reached purchases skip the wallet in the campaign step
            # and reach the mission step first, the order of locks that could deadlock.
            capped_campaign(session, org, 20, tierPoints=False)
            missions.create_mission(session, org.id, actor=org.actor, name="Three a day", goal_count=1,
                                    event_type=earning.PURCHASE_CONFIRMED, repetition_period="day", period_limit=3,
                                    points_on_completion=7)
            member = factories.make_member(session, org)
            org_id, member_id, key = org.id, member.id, org.api_key
            account_id = org.program.points_account_id

    results = parallel(30, lambda n: confirm_purchase(live_server, org_id, key, member_id, f"day-{n}", 5.0))
    assert all(status == 201 for status, _ in results), [r for r in results if r[0] != 201][:3]
    completed = sum(1 for _, body in results for e in body["evaluationResults"]["effects"]
                    if e["type"] == "mission_completed")
    assert completed == 3
    assert balance_of(live_app, account_id, member_id) == 21 + 20


def test_parallel_purchases_complete_a_referral_once_and_caps_hold(live_app, live_server):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Referrals")
            capped_campaign(session, org, 10, tierPoints=False)
            rp = referrals.create_program(session, org.id, actor=org.actor, name="Friends", referrer_points=100,
                                          referred_points=50, max_referrals_per_member=3)
            alice = factories.make_member(session, org)
            code = referrals.create_code(session, rp, alice, actor=org.actor)
            friends = [enrolment.enrol_member(session, org.id, actor=org.actor, referral_code=code.code,
                                              profile={"email": f"friend{n}@example.com"})[0].id for n in range(8)]
            org_id, alice_id, key = org.id, alice.id, org.api_key
            account_id = org.program.points_account_id

    # Each friend buys 4 times at once.
    results = parallel(32, lambda n: confirm_purchase(live_server, org_id, key, friends[n % len(friends)],
                                                      f"ref-{n}", 5.0))
    assert all(status == 201 for status, _ in results), [r for r in results if r[0] != 201][:3]
    completions = [e for _, body in results for e in body["evaluationResults"]["effects"]
                   if e["type"] == "referral_completed"]
    assert len(completions) == 8  # once per friend, however many purchases raced
    assert sorted(e["details"]["referrerPoints"] for e in completions) == [0] * 5 + [100] * 3
    assert balance_of(live_app, account_id, alice_id) == 300
    paid_friends = sum(balance_of(live_app, account_id, f) for f in friends)
    assert paid_friends == 150 + 8 * 10  # referral rewards plus each friend's capped campaign points
