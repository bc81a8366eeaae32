"""Audiences in the console: list with member counts, rule audiences with syntax errors at their line
and column, list audiences from a CSV of card codes or member ids (all or nothing), the members of a
list audience, roles, CSRF and isolation."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from portal.domain import audiences, members
from portal.domain.audiences import Audience, AudienceMember
from portal.domain.audit import AuditEntry
from tests import factories
from tests.web.page import page


def csv(text: str, name: str = "members.csv"):
    return (io.BytesIO(text.encode("utf-8")), name)


def new(console, **data):
    return console.post("/console/audiences/new", {"kind": "rule", **data}, content_type="multipart/form-data")


def audience_named(session, org, name) -> Audience:
    return session.scalars(select(Audience).where(Audience.organization_id == org.id, Audience.name == name)).one()


def listed(session, audience) -> list[int]:
    return sorted(session.scalars(select(AudienceMember.member_id).where(AudienceMember.audience_id == audience.id)))


def test_rule_audience_is_created_and_counted(console, signed_in, session, org):
    factories.make_member(session, org, city="Berlin")
    factories.make_member(session, org, city="Berlin")
    factories.make_member(session, org, city="Hamburg")
    session.commit()
    response = new(console, name="Berliners", rule='member.city == "Berlin"', description="Capital")
    assert response.status_code == 302
    audience = audience_named(session, org, "Berliners")
    assert (audience.kind, audience.rule, audience.description) == ("rule", 'member.city == "Berlin"', "Capital")
    detail = page(console.get(f"/console/audiences/{audience.id}"))
    assert detail.text("#audience-count") == "2" and 'member.city == "Berlin"' in detail.text(".rule-text")
    listing = page(console.get("/console/audiences"))
    assert listing.text(f"tr[data-audience-id='{audience.id}'] td[data-count]") == "2"


def test_rule_syntax_error_shows_line_and_column_on_the_rule_field(console, signed_in, session, org):
    response = new(console, name="Broken", rule='member.city == "Berlin" and\nmember.balance >')
    assert response.status_code == 422
    result = page(response)
    assert "at line 2, column 17" in result.text("#rule-error")
    assert result.one("#rule").get("aria-invalid") == "true"
    pointer = result.text(".rule-pointer")
    assert "2 | member.balance >" in pointer and pointer.endswith("^")
    empty = new(console, name="Empty", rule="")
    assert "The expression is empty" in page(empty).text("#rule-error")
    assert session.scalar(select(func.count()).select_from(Audience).where(Audience.organization_id == org.id)) == 0


def test_duplicate_name_on_the_name_field(console, signed_in, session, org):
    audiences.create_audience(session, org.id, name="VIP", actor=org.actor, rule="true")
    session.commit()
    response = new(console, name="VIP", rule="true")
    assert response.status_code == 422 and "already exists" in page(response).text("#name-error")


def test_list_audience_from_card_codes_and_its_members(console, signed_in, session, org):
    people = [factories.make_member(session, org, givenName=f"Listed{i}") for i in range(3)]
    outsider = factories.make_member(session, org, givenName="Outsider")
    session.commit()
    codes = [members.card_code_of(session, p.id) for p in people]
    text = "cardCode,note\n" + f"{codes[0].lower()},lower case is fine\n{codes[1]},\n{codes[2]},\n{codes[1]},twice\n"
    response = new(console, name="Flyer list", kind="list", id_type="CARDCODE", file=csv(text))
    assert response.status_code == 302, page(response).texts(".field-error")
    audience = audience_named(session, org, "Flyer list")
    assert audience.kind == "list" and listed(session, audience) == sorted(p.id for p in people)
    detail = page(console.get(f"/console/audiences/{audience.id}"))
    assert detail.text("#audience-count") == "3"
    table = detail.text("#audience-members-table")
    assert all(f"Listed{i}" in table for i in range(3)) and "Outsider" not in table and codes[2] in table
    fragment = console.get(f"/console/audiences/{audience.id}", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True) and "HX-Request" in fragment.headers["Vary"]
    assert outsider.id not in listed(session, audience)


def test_a_list_upload_with_unknown_members_adds_nobody(console, signed_in, session, org, other_org):
    mine = factories.make_member(session, org)
    foreign = factories.make_member(session, other_org)
    session.commit()
    text = f"memberId\n{mine.id}\n{foreign.id}\nabc\n99999999999999999999999\n"
    response = new(console, name="Ids", kind="list", id_type="ID", file=csv(text))
    assert response.status_code == 422
    result = page(response)
    assert "3 rows name no member: nobody was added" in result.text("#file-error")
    assert result.texts("#member-problems tbody tr") == [
        f"3 {foreign.id} no member has this id", "4 abc no member has this id",
        "5 99999999999999999999999 no member has this id"]
    assert session.scalar(select(func.count()).select_from(Audience).where(Audience.organization_id == org.id)) == 0


def test_adding_members_to_a_list_audience(console, signed_in, session, org):
    first, second, third = (factories.make_member(session, org) for _ in range(3))
    audience = audiences.create_audience(session, org.id, name="Testers", actor=org.actor, kind="list",
                                         member_ids=[first.id])
    session.commit()
    url = f"/console/audiences/{audience.id}/members"
    bad = console.post(url, {"add-id_type": "ID", "add-file": csv(f"{second.id}\n0\n")},
                       content_type="multipart/form-data")
    assert bad.status_code == 422 and page(bad).texts("#member-problems tbody tr") == ["2 0 no member has this id"]
    assert listed(session, audience) == [first.id]
    good = console.post(url, {"add-id_type": "ID", "add-file": csv(f"{first.id}\n{second.id}\n{third.id}\n")},
                        content_type="multipart/form-data")
    assert good.status_code == 302
    assert "2 members added (1 were already in the audience)" in console.get(
        f"/console/audiences/{audience.id}").get_data(as_text=True)
    assert listed(session, audience) == sorted([first.id, second.id, third.id])
    assert session.scalar(select(AuditEntry.action).where(AuditEntry.organization_id == org.id,
                                                          AuditEntry.action == "audience.members_added"))
    missing = console.post(url, {"add-id_type": "ID"}, content_type="multipart/form-data")
    assert missing.status_code == 422 and "Choose a CSV file" in page(missing).text("#add-file-error")


def test_edit_rule_audience(console, signed_in, session, org):
    audience = audiences.create_audience(session, org.id, name="Rich", actor=org.actor, rule="member.balance > 10")
    session.commit()
    url = f"/console/audiences/{audience.id}/edit"
    assert page(console.get(url)).one("#rule").text == "member.balance > 10"
    bad = console.post(url, {"name": "Rich", "rule": "member.balance >"})
    assert bad.status_code == 422 and "column 17" in page(bad).text("#rule-error")
    assert console.post(url, {"name": "Richer", "rule": "member.balance > 1000"}).status_code == 302
    session.refresh(audience)
    assert (audience.name, audience.rule) == ("Richer", "member.balance > 1000")


def test_roles_csrf_and_other_organisations(console, sign_in_as, session, org, other_org):
    mine = audiences.create_audience(session, org.id, name="Mine", actor=org.actor, kind="list")
    foreign = audiences.create_audience(session, other_org.id, name="Foreign", actor=other_org.actor, kind="list")
    member = factories.make_member(session, org)
    session.commit()
    sign_in_as(["campaigns:read"])
    listing = page(console.get("/console/audiences"))
    assert "Mine" in listing.text("#audiences-table") and "Foreign" not in listing.html
    assert not page(console.get(f"/console/audiences/{mine.id}")).has("#add-members-form")
    assert console.get("/console/audiences/new").status_code == 403
    assert console.post(f"/console/audiences/{mine.id}/members", {"add-id_type": "ID",
                                                                   "add-file": csv(f"{member.id}\n")},
                        content_type="multipart/form-data").status_code == 403
    assert console.get(f"/console/audiences/{foreign.id}").status_code == 404
    assert console.get("/console/audiences/99999999999999999999999").status_code == 404
    sign_in_as(["tiers:read"])
    assert console.get("/console/audiences").status_code == 403
    sign_in_as(["campaigns:read", "campaigns:write"])
    assert console.post(f"/console/audiences/{foreign.id}/members", {"add-id_type": "ID",
                                                                      "add-file": csv(f"{member.id}\n")},
                        content_type="multipart/form-data").status_code == 404
    assert console.get(f"/console/audiences/{foreign.id}/edit").status_code == 404
    no_token = console.client.post(f"/console/audiences/{mine.id}/members",
                                   data={"add-id_type": "ID", "add-file": csv(f"{member.id}\n")},
                                   content_type="multipart/form-data")
    assert no_token.status_code == 400
    assert console.client.post("/console/audiences/new", data={"name": "X", "kind": "rule",
                                                               "rule": "true"}).status_code == 400
    assert listed(session, mine) == [] and listed(session, foreign) == []
    assert session.scalar(select(func.count()).select_from(Audience).where(Audience.organization_id == org.id)) == 1
