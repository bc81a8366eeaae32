"""The member page's everyday actions: profile and custom attributes, identifiers, a coupon, a
mission step by hand, erasure; each audited, each refused without the role."""
from __future__ import annotations

from sqlalchemy import func, select

from portal.domain import coupons, members, missions
from portal.domain.audit import AuditEntry
from portal.domain.coupons import CouponUsage
from portal.domain.members import Identifier, Member
from tests import factories

from .page import page

PURCHASE = "member-purchase-order-confirmed"


def audit_entries(session, action):
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def profile_data(**changes):
    data = {"profile-email": "ann@example.com", "profile-given_name": "Ann", "profile-family_name": "Lee",
            "profile-birth_date": "1990-04-01", "profile-phone": "", "profile-street": "", "profile-zip_code": "",
            "profile-city": "Berlin", "profile-country_code": "de", "profile-custom_attributes": "",
            "profile-reason": ""}
    return {**data, **changes}


def fresh(session, member) -> Member:
    session.expire_all()
    return session.get(Member, member.id)


# --- profile -------------------------------------------------------------------------------

def test_edit_profile_and_custom_attributes_is_audited(console, signed_in, session, org):
    member = factories.make_member(session, org, email="old@example.com", givenName="Old")
    members.update_member(session, member, actor=org.actor, custom_attributes={"shoe": "42", "pet": "cat"})
    session.commit()
    response = console.post(f"/console/members/{member.id}/profile", profile_data(**{
        "profile-custom_attributes": "shoe = 43\nnewsletter = weekly", "profile-reason": "asked at the till"}))
    assert response.status_code == 302
    member = fresh(session, member)
    assert (member.email, member.given_name, member.city, member.country_code) == (
        "ann@example.com", "Ann", "Berlin", "DE")
    assert str(member.birth_date) == "1990-04-01"
    assert member.custom_attributes == {"shoe": "43", "newsletter": "weekly"}  # "pet" deleted with its line
    entry = audit_entries(session, "member.updated")[-1]
    assert (entry.actor_id, entry.details["reason"]) == (signed_in.id, "asked at the till")
    assert "customAttributes" in entry.details["fields"] and "profile.email" in entry.details["fields"]
    shown = page(console.get(f"/console/members/{member.id}"))
    assert shown.text('[data-attribute="shoe"]') == "43"


def test_profile_domain_error_lands_on_its_field(console, signed_in, session, org):
    factories.make_member(session, org, email="taken@example.com")
    member = factories.make_member(session, org, email="mine@example.com")
    session.commit()
    response = console.post(f"/console/members/{member.id}/profile",
                            profile_data(**{"profile-email": "taken@example.com", "profile-country_code": "D1"}))
    assert response.status_code == 422
    assert "two letters" in page(response).text("#profile-country_code-error")
    response = console.post(f"/console/members/{member.id}/profile",
                            profile_data(**{"profile-email": "taken@example.com"}))
    assert response.status_code == 422
    assert "already exists" in page(response).text("#profile-email-error")
    assert fresh(session, member).email == "mine@example.com"


def test_bad_attribute_line_is_refused(console, signed_in, session, org):
    member = factories.make_member(session, org)
    session.commit()
    response = console.post(f"/console/members/{member.id}/profile",
                            profile_data(**{"profile-custom_attributes": "no equals sign"}))
    assert response.status_code == 422
    assert "Line 1" in page(response).text("#profile-custom_attributes-error")


# --- identifiers ------------------------------------------------------------------------------

def test_add_and_remove_identifiers(console, signed_in, session, org):
    member = factories.make_member(session, org)
    session.commit()
    assert console.post(f"/console/members/{member.id}/identifiers",
                        {"identifier-type": "EXTERNALCODE", "identifier-code": "POS-778"}).status_code == 302
    added = session.scalars(select(Identifier).where(Identifier.member_id == member.id,
                                                     Identifier.type == "EXTERNALCODE")).one()
    assert added.code == "POS-778"
    assert members.lookup(session, org.id, "EXTERNALCODE", "POS-778").id == member.id
    assert console.post(f"/console/members/{member.id}/identifiers/remove",
                        {"identifier": str(added.id)}).status_code == 302
    session.expire_all()
    assert session.get(Identifier, added.id) is None
    assert [e.details["type"] for e in audit_entries(session, "member.identifier_removed")] == ["EXTERNALCODE"]


def test_taken_identifier_is_shown_on_the_field(console, signed_in, session, org):
    other = factories.make_member(session, org)
    members.add_identifier(session, other, "EXTERNALCODE", "SHARED", actor=org.actor)
    member = factories.make_member(session, org)
    session.commit()
    response = console.post(f"/console/members/{member.id}/identifiers",
                            {"identifier-type": "EXTERNALCODE", "identifier-code": "SHARED"})
    assert response.status_code == 422
    assert "already in use" in page(response).text("#identifier-code-error")


def test_another_members_identifier_cannot_be_removed(console, signed_in, session, org, other_org):
    member = factories.make_member(session, org)
    foreign = factories.make_member(session, other_org)
    identifier = members.add_identifier(session, foreign, "EXTERNALCODE", "THEIRS", actor=other_org.actor)
    session.commit()
    response = console.post(f"/console/members/{member.id}/identifiers/remove", {"identifier": str(identifier.id)})
    assert response.status_code == 404
    session.expire_all()
    assert session.get(Identifier, identifier.id) is not None


# --- coupon, mission --------------------------------------------------------------------------

def test_assign_a_coupon_from_the_book_picker(console, signed_in, session, org):
    member = factories.make_member(session, org)
    book = coupons.create_book(session, org.id, actor=org.actor, name="Welcome", type="DISCOUNT", discount_type="fixed", discount_amount=5,
                               publishing_status="published")
    coupons.create_book(session, org.id, actor=org.actor, name="Draft book", type="REWARD", usage_required_points=100)
    session.commit()
    shown = page(console.get(f"/console/members/{member.id}"))
    assert [o.text for o in shown.all("#coupon-book option")][1:] == ["Welcome"]
    form_key = shown.one("#coupon-form input[name=coupon-key]").get("value")
    data = {"coupon-book": str(book.id), "coupon-key": form_key}
    assert console.post(f"/console/members/{member.id}/coupons", data).status_code == 302
    assert console.post(f"/console/members/{member.id}/coupons", data).status_code == 302  # a double click
    usages = session.scalars(select(CouponUsage).where(CouponUsage.member_id == member.id)).all()
    assert [u.book_id for u in usages] == [book.id]


def test_assign_needs_coupons_write(console, sign_in_as, session, org):
    member = factories.make_member(session, org)
    book = coupons.create_book(session, org.id, actor=org.actor, name="Welcome", type="DISCOUNT", discount_type="fixed", discount_amount=5,
                               publishing_status="published")
    session.commit()
    sign_in_as(["members:read", "members:write"])
    assert not page(console.get(f"/console/members/{member.id}")).has("#coupon-form")
    assert console.post(f"/console/members/{member.id}/coupons",
                        {"coupon-book": str(book.id), "coupon-key": "k"}).status_code == 403
    assert session.scalar(select(func.count()).select_from(CouponUsage)) == 0


def test_increment_a_mission_by_hand_with_a_reason(console, signed_in, session, org):
    member = factories.make_member(session, org)
    mission = missions.create_mission(session, org.id, actor=org.actor, name="Three visits", event_type=PURCHASE,
                                      goal_count=3, code="THREE")
    session.commit()
    response = console.post(f"/console/members/{member.id}/missions", {
        "mission-mission": str(mission.id), "mission-amount": "2", "mission-reason": "till was offline",
        "mission-key": "k1"})
    assert response.status_code == 302
    assert missions.progress_of(session, member, mission).counter == 2
    entry = audit_entries(session, "mission.incremented")[-1]
    assert (entry.details["reason"], entry.details["amount"], entry.actor_id) == ("till was offline", 2, signed_in.id)
    refused = console.post(f"/console/members/{member.id}/missions", {
        "mission-mission": str(mission.id), "mission-amount": "1", "mission-reason": "", "mission-key": "k2"})
    assert refused.status_code == 422
    assert "Give a reason" in page(refused).text("#mission-reason-error")
    # Drawn again with the running missions offered and the chosen one still chosen.
    assert page(refused).one("#mission-mission option[selected]").get("value") == str(mission.id)
    assert missions.progress_of(session, member, mission).counter == 2


# --- lock, erase, roles --------------------------------------------------------------------------

def test_erase_uses_the_members_own_erasure(console, signed_in, session, org):
    member = factories.make_member(session, org, email="gone@example.com", givenName="Gone")
    session.commit()
    refused = console.post(f"/console/members/{member.id}/erase", {})
    assert refused.status_code == 422
    assert fresh(session, member).erased_at is None
    assert console.post(f"/console/members/{member.id}/erase", {"erase-confirm": "y"}).status_code == 302
    member = fresh(session, member)
    assert (member.erased_at is not None, member.email, member.given_name) == (True, None, "")
    assert session.scalar(select(func.count()).select_from(Identifier).where(Identifier.member_id == member.id)) == 0
    assert [e.actor_id for e in audit_entries(session, "member.erased")] == [signed_in.id]
    shown = page(console.get(f"/console/members/{member.id}"))
    assert not shown.has("#erase-form") and not shown.has("#profile-form")


def test_members_read_user_gets_no_forms_and_403s(console, sign_in_as, session, org):
    member = factories.make_member(session, org, email="keep@example.com")
    mission = missions.create_mission(session, org.id, actor=org.actor, name="Visits", event_type=PURCHASE,
                                      goal_count=3, code="V")
    session.commit()
    sign_in_as(["members:read"])
    shown = page(console.get(f"/console/members/{member.id}"))
    for form in ("#profile-form", "#identifier-form", "#mission-form", "#erase-form", "#coupon-form"):
        assert not shown.has(form), form
    for path, data in (("profile", profile_data()), ("identifiers", {"identifier-type": "EXTERNALCODE",
                                                                     "identifier-code": "X"}),
                       ("identifiers/remove", {"identifier": "1"}),
                       ("missions", {"mission-mission": str(mission.id), "mission-amount": "1",
                                     "mission-reason": "x", "mission-key": "k"}),
                       ("erase", {"erase-confirm": "y"})):
        assert console.post(f"/console/members/{member.id}/{path}", data).status_code == 403, path
    member = fresh(session, member)
    assert (member.email, member.erased_at) == ("keep@example.com", None)
    assert missions.progress_of(session, member, mission).counter == 0


def test_foreign_member_is_a_404_for_every_action(console, signed_in, session, other_org):
    foreign = factories.make_member(session, other_org, email="theirs@example.com")
    session.commit()
    for path, data in (("profile", profile_data()), ("erase", {"erase-confirm": "y"}),
                       ("identifiers", {"identifier-type": "EXTERNALCODE", "identifier-code": "X"})):
        assert console.post(f"/console/members/{foreign.id}/{path}", data).status_code == 404, path
    assert fresh(session, foreign).email == "theirs@example.com"


def test_a_forged_choice_that_is_not_an_id_is_a_form_error(console, signed_in, session, org):
    member = factories.make_member(session, org)
    session.commit()
    for path, data, field in (("coupons", {"coupon-book": "1 OR 1", "coupon-key": "k"}, "#coupon-book-error"),
                              ("missions", {"mission-mission": "x", "mission-amount": "1", "mission-reason": "r",
                                            "mission-key": "k"}, "#mission-mission-error"),
                              ("tier", {"tier-tier": "gold"}, "#tier-tier-error")):
        refused = console.post(f"/console/members/{member.id}/{path}", data)
        assert refused.status_code == 422, path
        assert "Choose" in page(refused).text(field)
