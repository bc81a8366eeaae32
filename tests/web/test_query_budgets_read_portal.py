"""Query budget of the member portal's wallet page, logged in, as an exact statement count on both
databases (issue 11): the session's member with their organisation and the overview (accounts, wallets,
programme, tier, tier ladder, whether there are orders and debts) in one statement, then the history with its
running balance and total. 20 history rows cost what one row costs; orders and debts cost their queries only
for a member who has some."""
from __future__ import annotations

from decimal import Decimal

from portal.domain import orders, points
from portal.domain.ledger import Reason
from portal.domain.orders import ItemInput, OrderInput, PointsDebt
from portal.extensions import db
from portal.member import wallet_views

from tests import factories
from tests.statements import counted

from .member_helpers import logged_in, mail_sink, make_member, member, portal, smtp_sink  # noqa: F401
from .page import page


def _wallet_page(portal, engine, path="/wallet", **kwargs):
    db.session.expunge_all()  # a request starts with nothing in the identity map
    with counted(engine) as statements:
        response = portal.get(path, **kwargs)
    assert response.status_code == 200
    return page(response), statements


def test_the_wallet_page_costs_two_statements_whatever_the_rows(portal, logged_in, session, org, engine):
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
    assert doc.text(".history__summary") == "25 movements · page 1 of 2"
    assert doc.text(".tier-name") == "No tier yet"
    # the member with their organisation (the session) and the overview with the tiers; the 20 rows with their total
    assert len(twenty_rows) == 2, twenty_rows
    assert len(one_row) == 2, one_row
    # a page past the end cannot tell the total: one count more; the htmx rows the same two
    doc, past_the_end = _wallet_page(portal, engine, "/wallet?page=7")
    assert doc.text(".history__summary") == "25 movements · page 8 of 2" and len(past_the_end) == 3, past_the_end
    _, fragment = _wallet_page(portal, engine, "/wallet?page=1", headers={"HX-Request": "true"})
    assert len(fragment) == 2, fragment


def test_orders_and_debts_cost_their_queries_only_when_the_member_has_some(portal, logged_in, session, org, engine):
    points.mint_to_member(session, logged_in, 50, actor=org.actor, reason=Reason(description="welcome"))
    session.commit()
    doc, none = _wallet_page(portal, engine)
    assert not doc.has("[data-order]") and not doc.has("[data-testid=open-debt]")
    orders.record_order(session, logged_in, OrderInput(external_id="till-7", status="confirmed", total=Decimal("12"),
                                                       items=[ItemInput("TEA", 1, Decimal("12"))]), actor=org.actor)
    session.commit()
    doc, with_order = _wallet_page(portal, engine)
    assert doc.has('[data-order="till-7"]') and not doc.has("[data-testid=open-debt]")
    session.add(PointsDebt(organization_id=org.id, member_id=logged_in.id, amount=30,
                           ledger_account_id=org.program.points_account_id))
    session.commit()
    doc, with_debt = _wallet_page(portal, engine)
    assert doc.text("[data-testid=open-debt]").startswith("30 owed from returns")
    # the latest orders, their items and their lines (orders.orders_with_lines); then the open debt
    assert (len(none), len(with_order), len(with_debt)) == (2, 5, 6), (none, with_order, with_debt)


def test_a_member_loaded_without_the_overview_costs_the_overview_statement(portal, logged_in, session, org, engine,
                                                                           monkeypatch):
    """The view reads the overview itself when the session's member came without it (loaded before the view):
    the same page, one statement more."""
    factories.make_tiers(session, org)
    points.mint_to_member(session, logged_in, 600, actor=org.actor, reason=Reason(description="bonus"),
                          account_id=org.program.tier_points_account_id)
    points.mint_to_member(session, logged_in, 5, actor=org.actor, reason=Reason(description="first"))
    session.commit()
    doc, together = _wallet_page(portal, engine)
    monkeypatch.setattr(wallet_views, "page_read", lambda: None)
    alone, apart = _wallet_page(portal, engine)
    assert doc.text(".tier-name") == "Silver" and doc.text("label[for=tier-progress]") == "900 more tier points to Gold"
    assert alone.text("main") == doc.text("main")
    assert (len(together), len(apart)) == (2, 3), (together, apart)
