"""Query budget of the console's member list, as an exact statement count on both databases (issue 11):
card codes and balances of the page are read for the whole page at once, never per row."""
from __future__ import annotations

from flask import g

from portal.console.member_views import MEMBERS_PER_PAGE
from portal.domain import points
from portal.domain.ledger import Reason
from portal.extensions import db

from tests import factories
from tests.statements import counted

from .page import page


def _list_page(console, engine, path="/console/members"):
    db.session.expunge_all()  # a request starts with nothing in the identity map, and an empty `g`
    for name in list(vars(g)):
        delattr(g, name)
    with counted(engine) as statements:
        response = console.get(path)
    assert response.status_code == 200
    return page(response), statements


def test_the_member_list_costs_the_same_for_a_few_rows_and_a_full_page(console, signed_in, session, org, engine):
    for _ in range(3):
        points.mint_to_member(session, factories.make_member(session, org), 7, actor=org.actor,
                              reason=Reason(description="x"))
    session.commit()
    console.get("/console/members")
    _, few = _list_page(console, engine)
    for _ in range(MEMBERS_PER_PAGE):
        factories.make_member(session, org)
    session.commit()
    doc, full = _list_page(console, engine)
    assert len(doc.all("table tbody tr")) == MEMBERS_PER_PAGE
    assert len(full) == len(few) + 1, (few, full)  # a full page is counted; one that is not tells its total
    # the staff user (session), the page, its count, the programme, card codes and balances of the page
    assert len(full) == 6, full


def test_the_audience_list_costs_the_same_for_2_audiences_and_for_10(console, signed_in, session, org, engine):
    berliners = [factories.make_member(session, org, city="Berlin") for _ in range(2)]
    factories.make_member(session, org, city="Hamburg")
    factories.audience_pairs(session, org, 0, 1, [berliners[0].id])
    console.get("/console/audiences")
    few_page, few = _list_page(console, engine, "/console/audiences")
    factories.audience_pairs(session, org, 1, 4, [berliners[0].id])
    doc, many = _list_page(console, engine, "/console/audiences")
    assert len(doc.all("table tbody tr")) == 10 and len(few_page.all("table tbody tr")) == 2
    # each rule audience's matching members, each list audience's listed ones, whatever else is on the page
    shown = doc.texts("table tbody tr td[data-count]")
    assert sorted(shown) == ["1"] * 5 + ["2"] * 5, shown
    # the staff user (session), the page, the list audiences' rows counted together, the members, the programme,
    # their tiers and balances: the same for 10 audiences as for 2
    assert len(many) == len(few) == 7, many
