"""The wallet page's reads (domain/statements.py): the overview read with the session's member is the same
overview, its tier ladder comes out of the JSON aggregate lowest first with the names as written, and only
the member's own organisation and wallets are in it."""
from __future__ import annotations

from decimal import Decimal

from portal.domain import orders, points, statements, tiers
from portal.domain.ledger import Reason
from portal.domain.orders import PointsDebt

from ..factories import make_member


def _tier(session, bundle, name, min_points):
    return tiers.create_tier(session, bundle.program, name=name, min_points=min_points, actor=bundle.actor)


def test_the_overview_read_with_the_member_is_the_overview(session, org, other_org):
    # created out of order, with names JSON must carry as written; another organisation's tier in between
    gold = _tier(session, org, 'Gold "G" & <Co>', 1500)
    bronze = _tier(session, org, "Bronze", 0)
    silver = _tier(session, org, "Sïlver", 500)
    zinc = _tier(session, org, "Zinc", 200)
    _tier(session, other_org, "Intruder", 700)
    member = make_member(session, org)
    neighbour = make_member(session, org)
    points.mint_to_member(session, member, 120, actor=org.actor, reason=Reason(description="visit"))
    points.mint_to_member(session, member, 600, actor=org.actor, reason=Reason(description="bonus"),
                          account_id=org.program.tier_points_account_id)
    points.mint_to_member(session, neighbour, 999, actor=org.actor, reason=Reason(description="not yours"))
    session.add(PointsDebt(organization_id=org.id, member_id=member.id, amount=30,
                           ledger_account_id=org.program.points_account_id))
    session.flush()

    found = statements.member_overview(session, member.id)
    assert found is not None
    loaded, organization, overview = found
    assert (loaded, organization) == (member, org.org)
    assert overview == statements.overview(session, member)
    assert [step.name for step in overview.ladder] == ["Bronze", "Zinc", "Sïlver", 'Gold "G" & <Co>']
    assert [step.id for step in overview.ladder] == [bronze.id, zinc.id, silver.id, gold.id]
    assert [(a.account_id, a.balance) for a in overview.accounts] == [
        (org.program.points_account_id, 120), (org.program.tier_points_account_id, 600)]
    assert (overview.tier_id, overview.has_orders, overview.has_debts) == (silver.id, False, True)
    progress = statements.tier_progress(overview)
    assert (progress["tier"].name, progress["nextTier"].name, progress["pointsToNext"]) == ("Sïlver", gold.name, 900)


def test_another_organisations_member_reads_their_own_organisation(session, org, other_org):
    _tier(session, org, "Bronze", 0)
    foreign = make_member(session, other_org)
    orders.record_order(session, foreign, orders.OrderInput(external_id="till-1", status="confirmed",
                                                            total=Decimal("5"), items=[]), actor=other_org.actor)
    session.flush()
    loaded, organization, overview = statements.member_overview(session, foreign.id)
    assert (loaded, organization) == (foreign, other_org.org)
    assert overview == statements.overview(session, foreign)
    assert overview.program_id == other_org.program.id and overview.ladder == []
    assert {a.account_id for a in overview.accounts} == {other_org.program.points_account_id,
                                                         other_org.program.tier_points_account_id}
    assert all(a.wallet_id is None and a.balance == 0 for a in overview.accounts)
    assert overview.has_orders and not overview.has_debts


def test_no_such_member_reads_nothing(session, org):
    assert statements.member_overview(session, 10**9) is None
    assert statements.member_overview(session, 10**30) is None  # past the column's range: no query at all
