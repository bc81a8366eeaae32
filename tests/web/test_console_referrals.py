"""Referral programmes in the console: create and edit with errors on their fields, switching on and
off, a programme's codes (paged, given by staff) and the report of who referred whom, CSRF, roles
and isolation."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from portal.domain import enrolment, members, orders, referrals
from portal.domain.orders import ItemInput, OrderInput
from portal.domain.referrals import ReferralCode, ReferralProgram
from tests import factories

from .console_helpers import ENGAGEMENT_REFUSALS, ConsoleForm
from .page import field_error, page, text_of

PURCHASE = "member-purchase-order-confirmed"


FORM = ConsoleForm("/console/referrals/new", name="Bring a friend", description="Both of you earn", event_type=PURCHASE,
                   referrer_points="100", referred_points="50", ledger_account_id="", max_referrals_per_member="10",
                   max_uses_per_code="", active="y", valid_from="", valid_to="")


def program_named(session, name: str) -> ReferralProgram | None:
    return factories.first(session, ReferralProgram, ReferralProgram.name == name)


def join(session, org, code: str, **profile):
    member, _ = enrolment.enrol_member(session, org.id, actor=org.actor, profile=profile, referral_code=code)
    return member


def buy(session, org, member, external_id: str):
    orders.record_order(session, member, OrderInput(
        external_id=external_id, status="confirmed", total=Decimal("20.00"),
        items=[ItemInput(sku="A", quantity=1, unit_price=Decimal("20.00"))]), actor=org.actor)


def test_create_a_programme_and_see_it_listed(console, signed_in, session, org):
    response = FORM.submit(console, valid_from="2030-01-01T09:30")
    assert response.status_code == 302
    program = program_named(session, "Bring a friend")
    assert (program.organization_id, program.event_type) == (org.id, PURCHASE)
    assert (program.referrer_points, program.referred_points) == (100, 50)
    assert (program.max_referrals_per_member, program.max_uses_per_code) == (10, None)
    assert program.valid_from.isoformat() == "2030-01-01T09:30:00+00:00"
    assert response.headers["Location"].endswith(f"/console/referrals/{program.id}")

    row = page(console.get("/console/referrals")).text(f'tr[data-program-id="{program.id}"]')
    assert "Bring a friend" in row and PURCHASE in row and "100" in row and "50" in row and "Active" in row
    detail = page(console.get(f"/console/referrals/{program.id}"))
    facts = detail.text(".facts")
    assert "100 points" in facts and "50 points" in facts and "10 rewarded referrals" in facts
    assert "2030-01-01 09:30 UTC" in facts


test_errors_land_on_their_fields = FORM.refusals_test([
    ({"name": " "}, "name", "name is required"),
    ({"referrer_points": ""}, "referrer_points", "Give a whole number"),
    ({"referred_points": "-1"}, "referred_points", "between 0 and"),
    ({"max_uses_per_code": "0"}, "max_uses_per_code", "between 1 and"),
    *ENGAGEMENT_REFUSALS,
], created=lambda session: program_named(session, "Bring a friend"))


def test_edit_changes_only_what_was_changed(console, signed_in, session, programme):
    form = page(console.get(f"/console/referrals/{programme.id}/edit"))
    assert form.one("#referrer_points").get("value") == "100"
    response = console.post(f"/console/referrals/{programme.id}/edit",
                            FORM.data(name="Friends", referrer_points="200", max_referrals_per_member="",
                                      max_uses_per_code="3", event_type="member-created"))
    assert response.status_code == 302
    session.refresh(programme)
    assert (programme.referrer_points, programme.max_referrals_per_member, programme.max_uses_per_code,
            programme.event_type) == (200, None, 3, "member-created")
    bad = console.post(f"/console/referrals/{programme.id}/edit", FORM.data(name="Friends", referrer_points="x"))
    assert bad.status_code == 422 and "Not a valid integer" in field_error(bad, "referrer_points")


def test_deactivate_and_activate(console, signed_in, session, programme):
    url = f"/console/referrals/{programme.id}/active"
    assert console.post(url, {"active": "off"}).status_code == 302
    session.refresh(programme)
    assert programme.active is False
    assert "Inactive" in page(console.get("/console/referrals")).text(f'tr[data-program-id="{programme.id}"]')
    assert console.post(url, {"active": "on"}).status_code == 302
    session.refresh(programme)
    assert programme.active is True


def test_report_lists_who_referred_whom_with_statuses_and_points(console, signed_in, session, org, programme):
    ann = factories.make_member(session, org, givenName="Annika", familyName="Referrer", email="ann@example.com")
    code = referrals.create_code(session, programme, ann, actor=org.actor)
    bob = join(session, org, code.code, givenName="Bob", familyName="Buyer", email="bob@example.com")
    buy(session, org, bob, "bob-1")  # completes Bob's referral: 100 to Ann, 50 to Bob
    cara = join(session, org, code.code, givenName="Cara", familyName="Waiting", email="cara@example.com")
    sneaky = join(session, org, code.code, givenName="Ann", familyName="Again", email="ANN+2@example.com")
    session.commit()
    session.expire_all()  # counters moved by UPDATE statements; the app shares this session in tests

    response = console.get(f"/console/referrals/{programme.id}")
    report = page(response)
    rows = {r.get("data-referral-id"): text_of(r) for r in report.all("#report-table tbody tr")}
    assert len(rows) == 3
    by_friend = {name: text for text in rows.values() for name in ("Bob Buyer", "Cara Waiting", "Ann Again")
                 if name in text}
    assert "Annika Referrer" in by_friend["Bob Buyer"] and "Completed" in by_friend["Bob Buyer"]
    assert "100 50" in by_friend["Bob Buyer"] and code.code in by_friend["Bob Buyer"]
    assert "Pending" in by_friend["Cara Waiting"] and "0 0" in by_friend["Cara Waiting"]
    assert "Rejected" in by_friend["Ann Again"] and "self-referral: same email" in by_friend["Ann Again"]
    # Staff see full names, linked to the member pages; masked names are for the member portal.
    links = {a.get("href") for a in report.all("#report-table a")}
    assert {f"/console/members/{m.id}" for m in (ann, bob, cara, sneaky)} <= links
    assert referrals.masked_name(bob) not in report.text("#report-table")
    stats = (report.text("#count-referrals"), report.text("#count-completed"), report.text("#count-pending"),
             report.text("#count-rejected"), report.text("#count-points"))
    assert stats == ("3", "1", "1", "1", "150")
    [code_row] = report.all("#codes-table tbody tr")
    assert code.code in text_of(code_row) and "Annika Referrer" in text_of(code_row)
    assert report.texts("#codes-table tbody td")[2:4] == ["3", "1"]  # friends joined, rewarded

    completed = page(console.get(f"/console/referrals/{programme.id}?status=completed",
                                 headers={"HX-Request": "true", "HX-Target": "report-rows"}))
    assert "<html" not in completed.html and not completed.has("#codes-table")
    assert len(completed.all("#report-table tbody tr")) == 1 and "Bob Buyer" in completed.text("#report-table")


def test_codes_and_report_page_separately_through_htmx(console, signed_in, session, org, programme):
    holders = [factories.make_member(session, org) for _ in range(21)]
    for member in holders:
        referrals.create_code(session, programme, member, actor=org.actor)
    session.commit()
    full = page(console.get(f"/console/referrals/{programme.id}"))
    assert len(full.all("#codes-table tbody tr")) == 20
    next_link = full.one('#code-rows a[rel="next"]')
    assert next_link.get("hx-target") == "#code-rows" and "codes_page=2" in next_link.get("href")
    response = console.get(next_link.get("href"), headers={"HX-Request": "true", "HX-Target": "code-rows"})
    fragment = page(response)
    assert "<html" not in fragment.html and not fragment.has("#report-rows")
    assert len(fragment.all("#codes-table tbody tr")) == 1
    assert "HX-Request" in response.headers["Vary"]
    # Without htmx the same URL is the whole page, on the codes' second page.
    whole = page(console.get(next_link.get("href")))
    assert whole.has("#report-rows") and len(whole.all("#codes-table tbody tr")) == 1


def test_staff_give_a_member_a_code(console, signed_in, session, org, programme):
    ann = factories.make_member(session, org, givenName="Ann", familyName="Sharer")
    session.commit()
    card = members.card_code_of(session, ann.id)
    url = f"/console/referrals/{programme.id}/codes"
    assert console.post(url, {"code-member": card, "code-code": "ann-2030"}).status_code == 302
    assert console.post(url, {"code-member": str(ann.id)}).status_code == 302
    codes = session.scalars(select(ReferralCode).where(ReferralCode.member_id == ann.id)
                            .order_by(ReferralCode.id)).all()
    assert [c.code for c in codes][0] == "ANN-2030" and len(codes) == 2

    taken = console.post(url, {"code-member": card, "code-code": "ANN-2030"})
    assert taken.status_code == 422 and "already in use" in field_error(taken, "code-code")
    nobody = console.post(url, {"code-member": "NO-SUCH-CARD"})
    assert nobody.status_code == 422 and "No member" in field_error(nobody, "code-member")
    short = console.post(url, {"code-member": card, "code-code": "AB"})
    assert short.status_code == 422 and "between 4 and 40" in field_error(short, "code-code")
    assert len(session.scalars(select(ReferralCode).where(ReferralCode.member_id == ann.id)).all()) == 2


def test_csrf_is_required(console, signed_in, session, programme):
    assert console.client.post("/console/referrals/new", data=FORM.data()).status_code == 400
    assert program_named(session, "Bring a friend") is None
    assert console.client.post(f"/console/referrals/{programme.id}/active",
                               data={"active": "off"}).status_code == 400
    session.refresh(programme)
    assert programme.active is True


def test_roles(console, sign_in_as, session, org, programme):
    ann = factories.make_member(session, org, givenName="Ann", familyName="Sharer")
    referrals.create_code(session, programme, ann, actor=org.actor)
    session.commit()
    sign_in_as(["members:read"])
    assert console.get("/console/referrals").status_code == 403
    assert console.get(f"/console/referrals/{programme.id}").status_code == 403
    sign_in_as(["campaigns:read"])
    detail = page(console.get(f"/console/referrals/{programme.id}"))
    assert "Ann Sharer" in detail.text("#codes-table") and not detail.has("#codes-table a")  # no members:read
    assert not detail.has("#code-form") and not detail.has(".button-row")
    assert "Referrals" in page(console.get("/console/")).text(".sidenav")
    assert console.get("/console/referrals/new").status_code == 403
    assert console.post(f"/console/referrals/{programme.id}/edit", FORM.data()).status_code == 403
    assert console.post(f"/console/referrals/{programme.id}/active", {"active": "off"}).status_code == 403
    assert console.post(f"/console/referrals/{programme.id}/codes", {"code-member": str(ann.id)}).status_code == 403
    session.refresh(programme)
    assert programme.active is True


def test_another_organisations_programme_is_not_found(console, signed_in, session, other_org):
    foreign = referrals.create_program(session, other_org.id, actor=other_org.actor, name="Foreign")
    session.commit()
    for url in (f"/console/referrals/{foreign.id}", f"/console/referrals/{foreign.id}/edit"):
        assert console.get(url).status_code == 404
    assert console.post(f"/console/referrals/{foreign.id}/active", {"active": "off"}).status_code == 404
    assert console.post(f"/console/referrals/{foreign.id}/codes", {"code-member": "1"}).status_code == 404
    assert console.get(f"/console/referrals/{2 ** 63}").status_code == 404
    session.refresh(foreign)
    assert foreign.active is True
    assert "Foreign" not in console.get("/console/referrals").get_data(as_text=True)


def test_a_code_for_another_organisations_member_is_refused(console, signed_in, session, other_org, programme):
    stranger = factories.make_member(session, other_org)
    session.commit()
    response = console.post(f"/console/referrals/{programme.id}/codes", {"code-member": str(stranger.id)})
    assert response.status_code == 422 and "No member" in field_error(response, "code-member")
    assert factories.first(session, ReferralCode, ReferralCode.member_id == stranger.id) is None
