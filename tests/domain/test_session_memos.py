"""Session memos that follow rows (base.memo_follows_rows): a write of the rows a memo read forgets its entry, so
no writer clears a memo by hand and none can forget to."""
from __future__ import annotations

from portal.domain import orders, tiers
from portal.domain.base import session_memo
from portal.domain.orders import PointsDebt

from ..factories import make_member, make_tiers


def test_a_debt_added_is_owed_before_any_flush(session, org):
    member = make_member(session, org)
    assert orders.settle_debts(session, member, actor=org.actor) == 0
    assert member.id in session_memo(session, "debt-free")  # known to owe nothing: the next check asks nothing
    session.add(PointsDebt(organization_id=org.id, member_id=member.id,
                           ledger_account_id=org.program.points_account_id, amount=30))
    assert member.id not in session_memo(session, "debt-free")  # on add, not at the flush


def test_a_tier_written_is_read_again(session, org):
    bronze, silver, _ = make_tiers(session, org)
    assert tiers._ladder(session, org.program.id)[0] is bronze
    tiers.update_tier(session, bronze, actor=org.actor, min_points=1000)  # now between Silver and Gold
    assert org.program.id not in session_memo(session, "tiers.ladder")
    assert [t.name for t in tiers._ladder(session, org.program.id)] == ["Silver", "Bronze", "Gold"]
    tiers.create_tier(session, org.program, name="Tin", min_points=1, actor=org.actor)
    assert tiers._ladder(session, org.program.id)[0].name == "Tin"


def test_a_members_tier_changed_is_read_again(session, org):
    member = make_member(session, org)
    bronze, silver, _ = make_tiers(session, org)
    assert tiers.known_tier(session, member.id, org.program.id) is None
    tiers.set_tier(session, member.id, org.program, silver, actor=org.actor)
    assert tiers.known_tier(session, member.id, org.program.id) is silver
    other = make_member(session, org)
    assert tiers.known_tier(session, other.id, org.program.id) is None
    tiers.set_tier(session, member.id, org.program, bronze, actor=org.actor)
    assert (member.id, org.program.id) not in session_memo(session, "tiers.current")
    assert (other.id, org.program.id) in session_memo(session, "tiers.current")  # another member's stays
    assert tiers.known_tier(session, member.id, org.program.id) is bronze
