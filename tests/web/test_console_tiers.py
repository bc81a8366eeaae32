"""Tiers in the console: thresholds and member counts, create and edit with duplicate names and
thresholds refused on their fields, roles, CSRF and isolation."""
from __future__ import annotations

from sqlalchemy import select

from portal.domain import tiers
from portal.domain.audit import AuditEntry
from portal.domain.members import Member
from tests import factories
from tests.web.page import page


def ladder(session, org):
    return [(t.name, t.min_points) for t in tiers.tiers_of(session, org.program.id)]


def test_list_shows_thresholds_and_members_per_tier(console, signed_in, session, org):
    bronze, silver, gold = factories.make_tiers(session, org)
    people = [factories.make_member(session, org) for _ in range(5)]
    tiers.set_tier(session, people[0].id, org.program, gold, actor=org.actor)
    tiers.set_tier(session, people[1].id, org.program, silver, actor=org.actor)
    tiers.set_tier(session, people[2].id, org.program, silver, actor=org.actor)
    erased = people[3]
    tiers.set_tier(session, erased.id, org.program, gold, actor=org.actor)
    session.get(Member, erased.id).erased_at = erased.created_at  # erased members are not counted
    session.commit()
    listing = page(console.get("/console/tiers"))
    rows = listing.texts("#tiers-table tbody tr")
    assert [r.split(" ")[0] for r in rows] == ["Bronze", "Silver", "Gold", "No"]
    counts = [e.text for e in listing.all("#tiers-table td[data-count]")]
    assert counts == ["0", "2", "1", "1"]  # bronze, silver, gold, without a tier (people[4])
    assert "1,500" in rows[2] and "500" in rows[1]


def test_create_tier_and_refuse_duplicates_on_their_fields(console, signed_in, session, org):
    created = console.post("/console/tiers", {"name": "Platinum", "min_points": "5000", "color": "#445566",
                                              "description": "The very best"})
    assert created.status_code == 302
    assert "Tier Platinum created" in console.get("/console/tiers").get_data(as_text=True)
    tier = tiers.tiers_of(session, org.program.id)[0]
    assert (tier.name, tier.min_points, tier.color, tier.description) == ("Platinum", 5000, "#445566", "The very best")

    same_name = console.post("/console/tiers", {"name": "Platinum", "min_points": "6000"})
    assert same_name.status_code == 422
    assert "already exists" in page(same_name).text("#name-error")
    same_points = console.post("/console/tiers", {"name": "Diamond", "min_points": "5000"})
    assert "already starts at this number" in page(same_points).text("#min_points-error")
    negative = console.post("/console/tiers", {"name": "Minus", "min_points": "-5"})
    assert negative.status_code == 422 and "0 or more" in page(negative).text("#min_points-error")
    shape = page(console.post("/console/tiers", {"name": "", "min_points": "lots", "color": "red"}))
    assert shape.has("#name-error") and shape.has("#min_points-error") and "#c9a227" in shape.text("#color-error")
    assert ladder(session, org) == [("Platinum", 5000)]


def test_edit_tier(console, signed_in, session, org):
    bronze, silver, gold = factories.make_tiers(session, org)
    session.commit()
    form = page(console.get(f"/console/tiers/{silver.id}/edit"))
    assert form.one("#name").get("value") == "Silver" and form.one("#min_points").get("value") == "500"
    clash = console.post(f"/console/tiers/{silver.id}/edit", {"name": "Silver", "min_points": "1500"})
    assert clash.status_code == 422 and "already starts" in page(clash).text("#min_points-error")
    clash = console.post(f"/console/tiers/{silver.id}/edit", {"name": "Gold", "min_points": "700"})
    assert clash.status_code == 422 and "already exists" in page(clash).text("#name-error")
    saved = console.post(f"/console/tiers/{silver.id}/edit", {"name": "Silver plus", "min_points": "700"})
    assert saved.status_code == 302
    assert ladder(session, org) == [("Bronze", 0), ("Silver plus", 700), ("Gold", 1500)]
    assert session.scalar(select(AuditEntry.action).where(AuditEntry.organization_id == org.id,
                                                          AuditEntry.action == "tier.updated")) == "tier.updated"


def test_roles_csrf_and_other_organisations(console, sign_in_as, session, org, other_org):
    mine = factories.make_tiers(session, org)[0]
    foreign = factories.make_tiers(session, other_org)[0]
    session.commit()
    sign_in_as(["tiers:read"])
    listing = page(console.get("/console/tiers"))
    assert "Bronze" in listing.text("#tiers-table") and not listing.has("#tier-form")
    assert console.post("/console/tiers", {"name": "X", "min_points": "1"}).status_code == 403
    assert console.get(f"/console/tiers/{mine.id}/edit").status_code == 403
    sign_in_as(["coupons:read"])
    assert console.get("/console/tiers").status_code == 403
    sign_in_as(["tiers:read", "tiers:write"])
    assert console.get(f"/console/tiers/{foreign.id}/edit").status_code == 404
    assert console.post(f"/console/tiers/{foreign.id}/edit", {"name": "Mine now", "min_points": "3"}).status_code == 404
    assert console.get("/console/tiers/99999999999999999999999/edit").status_code == 404
    assert console.client.post("/console/tiers", data={"name": "No token", "min_points": "9"}).status_code == 400
    assert console.client.post(f"/console/tiers/{mine.id}/edit",
                               data={"name": "No token", "min_points": "9"}).status_code == 400
    assert ladder(session, org) == [("Bronze", 0), ("Silver", 500), ("Gold", 1500)]
    assert ladder(session, other_org)[0] == ("Bronze", 0)
