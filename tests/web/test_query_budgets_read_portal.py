"""Query budget of the member portal's wallet page, logged in, as an exact statement count on both
databases (issue 11): 20 history rows cost one statement more than one row (the count), never one per row."""
from __future__ import annotations

from portal.domain import points
from portal.domain.ledger import Reason
from portal.extensions import db

from tests import factories
from tests.statements import counted

from .member_helpers import logged_in, mail_sink, make_member, member, portal, smtp_sink  # noqa: F401
from .page import page


def _wallet_page(portal, engine):
    db.session.expunge_all()  # a request starts with nothing in the identity map
    with counted(engine) as statements:
        response = portal.get("/wallet")
    assert response.status_code == 200
    return page(response), statements


def test_the_wallet_page_costs_thirteen_statements_whatever_the_rows(portal, logged_in, session, org, engine):
    factories.make_tiers(session, org)
    points.mint_to_member(session, logged_in, 5, actor=org.actor, reason=Reason(description="first"))
    session.commit()
    portal.get("/wallet")
    doc, one_row = _wallet_page(portal, engine)
    assert len(doc.all("#history-results tbody tr")) == 1
    for n in range(24):
        points.mint_to_member(session, logged_in, 10, actor=org.actor, reason=Reason(description=f"visit {n}"))
    session.commit()
    doc, twenty_rows = _wallet_page(portal, engine)
    assert len(doc.all("#history-results tbody tr")) == 20
    assert doc.text(f"[data-testid=balance-{org.program.points_account_id}]") == "245"
    # the member (login), programme, account, wallet, the 20 rows, their count, balances (accounts with
    # wallets), tier progress (tier balance, member tier, tiers), the latest orders (none here: their lines
    # are one more query when there are some), the open debt, the organisation's name
    assert len(twenty_rows) == 13, twenty_rows
    assert len(one_row) == 12, one_row  # a page that is not full tells the total: no count
