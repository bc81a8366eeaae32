"""Campaign pages in the console: create, add actions with rule errors on the field, live rule checks,
dry-run simulation, roles and isolation."""
from __future__ import annotations

from sqlalchemy import func, select

from portal.domain import campaigns
from portal.domain.ledger import LedgerTransaction
from tests import factories


def create(console, **extra):
    data = {"code": "SAT", "name": "Saturday double", "event_type": "member-purchase-order-confirmed",
            "active": "y", "timezone": "Europe/Berlin", "days_of_week": ["saturday"],
            "location_codes": "BER-01, HAM-02", "monthly_points_cap": "500", **extra}
    return console.post("/console/campaigns/new", data)


def test_create_campaign_and_see_it_listed(console, signed_in, session, org):
    response = create(console)
    assert response.status_code == 302
    campaign = session.scalars(select(campaigns.Campaign).where(campaigns.Campaign.code == "SAT")).one()
    assert campaign.days_of_week == ["saturday"] and campaign.location_codes == ["BER-01", "HAM-02"]
    assert campaign.monthly_points_cap == 500 and campaign.timezone == "Europe/Berlin"
    page = console.get("/console/campaigns").get_data(as_text=True)
    assert "Saturday double" in page and "member-purchase-order-confirmed" in page


def test_campaign_errors_land_on_their_fields(console, signed_in):
    bad_zone = create(console, timezone="Mars/Olympus")
    assert bad_zone.status_code == 422 and "Unknown timezone" in bad_zone.get_data(as_text=True)
    create(console)
    duplicate = create(console, name="Again")
    assert duplicate.status_code == 422 and "already exists" in duplicate.get_data(as_text=True)
    missing = console.post("/console/campaigns/new", {"code": "", "name": ""})
    assert missing.status_code == 422 and "This field is required" in missing.get_data(as_text=True)


def test_add_action_with_bad_rule_shows_line_and_column(console, signed_in, session):
    create(console)
    campaign = session.scalars(select(campaigns.Campaign).where(campaigns.Campaign.code == "SAT")).one()
    url = f"/console/campaigns/{campaign.id}/actions"
    bad = console.post(url, {"action-rules": "order.total >= 10\norder.total >",
                             "action-effect_type": "award_points", "action-mode": "fixed", "action-points": "5"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Line 2:" in page and "column 14" in page
    assert campaigns.actions_of(session, campaign.id) == []
    missing_points = console.post(url, {"action-rules": "", "action-effect_type": "award_points",
                                        "action-mode": "fixed"})
    assert missing_points.status_code == 422 and "must be a whole number above 0" in missing_points.get_data(
        as_text=True)
    good = console.post(url, {"action-rules": 'any(item.category == "coffee" for item in order.items)',
                              "action-effect_type": "award_points", "action-mode": "per_currency",
                              "action-points": "2", "action-per": "1", "action-rounding": "down",
                              "action-abort_on_error": "y"})
    assert good.status_code == 302
    [action] = campaigns.actions_of(session, campaign.id)
    assert action.effects[0] == {"type": "award_points", "mode": "per_currency", "points": 2, "per": "1",
                                 "rounding": "down", "categories": [], "tierPoints": False}
    detail = console.get(f"/console/campaigns/{campaign.id}").get_data(as_text=True)
    assert "any(item.category == &#34;coffee&#34; for item in order.items)" in detail


def test_live_rule_check_fragment(console, signed_in):
    response = console.post("/console/campaigns/rules/check",
                            {"action-rules": 'member.tier == "gold"\norder.total >'},
                            headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert "Line 1: ✓ valid" in page and "Line 2: ✗" in page and "column 14" in page
    assert "<html" not in page


def test_simulation_writes_nothing_and_shows_points(console, signed_in, session, org):
    campaign = campaigns.create_campaign(session, org.id, code="EARN", name="Earn", actor=org.actor)
    campaigns.add_action(session, campaign, actor=org.actor, rules_text=[],
                         effects=[{"type": "award_points", "mode": "per_currency", "points": 1, "per": "1"}])
    member = factories.make_member(session, org)
    session.commit()
    from portal.domain import members
    card = members.card_code_of(session, member.id)
    before = session.scalar(select(func.count()).select_from(LedgerTransaction))
    response = console.post(f"/console/campaigns/{campaign.id}/simulate",
                            {"sim-member": card, "sim-total": "42.50"}, headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "42 points" in page and "campaign:EARN" in page
    assert session.scalar(select(func.count()).select_from(LedgerTransaction)) == before
    unknown = console.post(f"/console/campaigns/{campaign.id}/simulate", {"sim-member": "NOPE", "sim-total": "1"})
    assert unknown.status_code == 422 and "Member not found" in unknown.get_data(as_text=True)


def test_roles_and_isolation(console, sign_in_as, session, org, other_org):
    foreign = campaigns.create_campaign(session, other_org.id, code="FOREIGN", name="Foreign",
                                        actor=other_org.actor)
    session.commit()
    sign_in_as(["members:read"])
    assert console.get("/console/campaigns").status_code == 403
    sign_in_as(["campaigns:read"])
    assert console.get("/console/campaigns").status_code == 200
    assert console.get("/console/campaigns/new").status_code == 403
    assert console.get(f"/console/campaigns/{foreign.id}").status_code == 404
    assert "Campaigns" in console.get("/console/").get_data(as_text=True)
