"""50 parallel confirmations of different orders for one member never exceed the monthly cap."""
from __future__ import annotations

import pytest

from portal.domain import ledger
from portal.domain.ledger import LedgerAccount
from portal.extensions import db
from tests import factories

from .live import capped_campaign, confirm_purchase, parallel

pytestmark = pytest.mark.live


def test_parallel_confirmations_respect_the_monthly_cap(live_app, live_server):
    with live_app.app_context():
        with db.transaction() as session:
            org = factories.make_org(session, name="Cap")
            capped_campaign(session, org, 500)
            member = factories.make_member(session, org)
            org_id, member_id, key = org.id, member.id, org.api_key
            account_id = org.program.points_account_id

    results = parallel(50, lambda n: confirm_purchase(live_server, org_id, key, member_id, f"cap-{n}", 37.0),
                       threads=16)

    assert all(status == 201 for status, _ in results), [r for r in results if r[0] != 201][:3]
    awarded = sorted(body["order"]["pointsAwarded"] for _, body in results)
    assert sum(awarded) == 500
    # 13 full awards of 37 (481) and one partial of 19; the rest get nothing.
    assert awarded.count(37) == 13 and awarded.count(19) == 1 and awarded.count(0) == 36

    with live_app.app_context():
        session = db.session()
        account = session.get(LedgerAccount, account_id)
        wallet = ledger.member_wallet(session, account, member_id)
        assert wallet.balance == 500
        assert ledger.totals(session, account_id)["memberBalances"] == 500
        db.session.remove()
