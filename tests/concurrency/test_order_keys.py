"""One systemUniqueKey sent by ten tills at once: one order, one award."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.domain.orders import PurchaseOrder
from portal.extensions import db
from tests import factories

from .live import balance_of, capped_campaign, parallel, post_purchase

pytestmark = pytest.mark.live


def _setup(live_app):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Till")
            capped_campaign(session, org, 100_000)
            member = factories.make_member(session, org)
            return org.id, member.id, org.api_key, org.program.points_account_id


def _post(live_server, org_id, member_id, key, external_id, total):
    response = post_purchase(live_server, org_id, key, member_id, external_id, total,
                             systemUniqueKey="till-9-receipt-1")
    return response.status_code, response.headers.get("Idempotent-Replayed"), response.json()


def _orders_of(live_app, member_id) -> int:
    with live_app.app_context():
        found = db.session().scalar(select(func.count()).select_from(PurchaseOrder)
                                    .where(PurchaseOrder.member_id == member_id))
        db.session.remove()
    return found


def test_the_same_key_and_body_ten_times_at_once_makes_one_order_and_one_award(live_app, live_server):
    org_id, member_id, key, account_id = _setup(live_app)
    results = parallel(10, lambda n: _post(live_server, org_id, member_id, key, "receipt-1", 40.0))
    assert all(status == 201 for status, _, _ in results), results
    assert sum(replayed != "true" for _, replayed, _ in results) == 1
    assert {body["order"]["id"] for _, _, body in results} == {results[0][2]["order"]["id"]}
    assert all(body["evaluationResults"]["pointsAwarded"] == 40 for _, _, body in results)
    assert _orders_of(live_app, member_id) == 1
    assert balance_of(live_app, account_id, member_id) == 40


def test_the_same_key_with_ten_different_orders_at_once_accepts_exactly_one(live_app, live_server):
    org_id, member_id, key, account_id = _setup(live_app)
    results = parallel(10, lambda n: _post(live_server, org_id, member_id, key, f"receipt-{n}", 40.0 + n))
    accepted = [body for status, _, body in results if status == 201]
    refused = [body for status, _, body in results if status == 409]
    assert len(accepted) == 1 and len(refused) == 9, [status for status, _, _ in results]
    assert all("systemUniqueKey" in body["errors"] for body in refused)
    assert _orders_of(live_app, member_id) == 1
    assert balance_of(live_app, account_id, member_id) == accepted[0]["order"]["pointsAwarded"] > 0
