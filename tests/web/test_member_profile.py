"""Profile: edit details, opt-ins and language; change password; download my
data; delete my account (erasure keeps the ledger, removes the person)."""
from __future__ import annotations

import json

import pytest

from sqlalchemy import func, select

from portal.domain import self_service, ledger, members, passwords, points, tiers
from portal.domain.audit import AuditEntry
from portal.domain.ledger import LedgerTransaction, Reason
from portal.domain.members import Identifier, Member
from portal.domain.models import metadata
from portal.domain.outbox import OutboxEvent

from tests import factories

from .member_helpers import (PASSWORD, all_errors, field_errors, logged_in, mail_sink, make_member,  # noqa: F401
                             member, portal, smtp_sink)

PROFILE = {"given_name": "Mara", "family_name": "Moos", "birth_date": "1988-02-29", "phone": "+49 30 1234567",
           "street": "Lindenstraße 5", "zip_code": "10115", "city": "Berlin", "country_code": "de",
           "optin_email": "y", "locale": "en"}


def save_profile(portal, **changes):
    data = {k: v for k, v in {**PROFILE, **changes}.items() if v is not None}
    return portal.submit("/profile", data)


def event_types(session, member) -> list[str]:
    return session.scalars(select(OutboxEvent.event_type).where(OutboxEvent.member_id == member.id)
                           .order_by(OutboxEvent.id)).all()


def test_profile_shows_the_current_details(portal, logged_in):
    doc = portal.page("/profile")
    assert doc.one("#given_name").get("value") == "Mara"
    assert doc.one("#family_name").get("value") == "Moos"
    assert logged_in.email in doc.text("#details-heading + p")
    assert doc.one("#locale option[selected]").get("value") == "en"
    ids = [el.get("id") for el in doc.all("[id]")]
    assert len(ids) == len(set(ids)), "element ids must be unique on a page with several forms"


def test_saving_details_opt_ins_and_language(portal, logged_in, session):
    response = save_profile(portal, optin_sms="y", locale="de")
    assert response.status_code == 302 and response.location == "/profile"
    session.refresh(logged_in)
    assert (logged_in.phone, logged_in.street, logged_in.zip_code, logged_in.city, logged_in.country_code) == (
        "+49 30 1234567", "Lindenstraße 5", "10115", "Berlin", "DE")
    assert str(logged_in.birth_date) == "1988-02-29"
    assert logged_in.optins == {"email": True, "sms": True}
    assert logged_in.locale == "de"
    doc = portal.page("/profile")
    assert doc.text("h1") == "Ihr Profil"
    assert doc.one("html").get("lang") == "de"

    save_profile(portal, optin_email=None, locale="en")
    session.refresh(logged_in)
    assert logged_in.optins == {"email": False, "sms": False}
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "member.updated",
                                                     AuditEntry.target_id == str(logged_in.id))).all()
    assert audit and audit[-1].actor_kind == "member" and "Mara" not in json.dumps(audit[-1].details)


def test_profile_errors_are_shown_on_their_fields(portal, logged_in, session):
    response = save_profile(portal, given_name="", phone="call me", country_code="Germany", locale="fr")
    assert response.status_code == 422
    errors = all_errors(response)
    assert errors["given_name"] == ["This field is required"]
    assert errors["phone"] == ["Enter a phone number like +49 30 1234567"]
    assert errors["country_code"] == ["Use the two-letter country code, like DE"]
    assert list(errors) == ["given_name", "phone", "country_code", "locale"]
    future = save_profile(portal, birth_date="2999-12-31")
    assert field_errors(future, "birth_date") == ["The birth date cannot be in the future"]
    session.refresh(logged_in)
    assert logged_in.given_name == "Mara" and logged_in.birth_date is None


def test_changing_the_password(portal, logged_in, session):
    def change(current, new, confirm=None):
        return portal.submit("/profile/password", {"current_password": current, "new_password": new,
                                                   "confirm": new if confirm is None else confirm},
                             token_from="/profile", prefix="pw")

    wrong = change("not my password", "brand new passphrase")
    assert wrong.status_code == 422 and field_errors(wrong, "pw-current_password") == [
        "This is not your current password"]
    weak = change(PASSWORD, "1234567890")
    assert field_errors(weak, "pw-new_password") == ["This password is too easy to guess"]
    mismatch = change(PASSWORD, "brand new passphrase", "brand new passphrasf")
    assert field_errors(mismatch, "pw-confirm") == ["The passwords do not match"]
    session.refresh(logged_in)
    assert passwords.verify_password(logged_in.password_hash, PASSWORD)

    done = change(PASSWORD, "brand new passphrase")
    assert done.status_code == 302 and done.location == "/profile"
    portal.logout()
    assert portal.login(logged_in.email).status_code == 422
    assert portal.login(logged_in.email, "brand new passphrase").status_code == 302


def test_download_my_data(portal, logged_in, session, org):
    factories.make_tiers(session, org)
    points.mint_to_member(session, logged_in, 250, actor=org.actor, reason=Reason(description="Big purchase"))
    points.mint_to_member(session, logged_in, 600, actor=org.actor, reason=Reason(description="Tier boost"),
                          account_id=org.program.tier_points_account_id)
    session.commit()
    response = portal.submit("/profile/data", {}, token_from="/profile", prefix="export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="my-data.json"'
    data = json.loads(response.get_data(as_text=True))
    assert data["profile"]["email"] == logged_in.email and data["profile"]["givenName"] == "Mara"
    assert data["member"]["id"] == logged_in.id
    assert {"type": "CARDCODE", "code": members.card_code_of(session, logged_in.id)} in [
        {k: i[k] for k in ("type", "code")} for i in data["identifiers"]]
    assert sorted(w["balance"] for w in data["wallets"]) == [250, 600]
    assert "Big purchase" in [t["description"] for t in data["transactions"]]
    assert [h["to"] for h in data["tierHistory"]] == ["Silver"]
    assert "member-created" in [e["type"] for e in data["events"]]
    assert data["optins"] == []
    exported = session.scalars(select(AuditEntry).where(AuditEntry.action == "member.data_exported")).all()
    assert [e.target_id for e in exported] == [str(logged_in.id)]


def test_the_export_never_holds_another_members_data(portal, logged_in, make_member, session, org):
    neighbour = make_member(givenName="Nepomuk")
    points.mint_to_member(session, neighbour, 77, actor=org.actor, reason=Reason(description="Nepomuk's lunch"))
    points.mint_to_member(session, logged_in, 30, actor=org.actor, reason=Reason(description="Mara's coffee"))
    session.commit()
    response = portal.submit("/profile/data", {}, token_from="/profile", prefix="export")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    data = json.loads(body)
    # Exactly the signed-in member's rows: their wallet, their one transaction, their card code.
    own_wallets = [w.id for w in ledger.member_wallets(session, logged_in.id)]
    neighbour_wallets = [w.id for w in ledger.member_wallets(session, neighbour.id)]
    assert data["member"]["id"] == logged_in.id and data["profile"]["givenName"] == "Mara"
    assert [w["walletId"] for w in data["wallets"]] == own_wallets and own_wallets
    assert [(t["walletId"], t["amount"], t["description"]) for t in data["transactions"]] == [
        (own_wallets[0], 30, "Mara's coffee")]
    assert [i["code"] for i in data["identifiers"] if i["type"] == "CARDCODE"] == [
        members.card_code_of(session, logged_in.id)]
    assert event_types(session, neighbour)  # the neighbour has events of their own, and none is exported
    assert [e["type"] for e in data["events"]] == event_types(session, logged_in)
    # And nothing of the neighbour anywhere in the file.
    assert not set(neighbour_wallets) & {w["walletId"] for w in data["wallets"]}
    for trace in ("Nepomuk", neighbour.email, neighbour.loyalty_member_id, members.card_code_of(session, neighbour.id)):
        assert trace not in body, trace


def test_delete_needs_the_password_and_a_confirmation(portal, logged_in, session):
    wrong = portal.submit("/profile/delete", {"password": "not my password", "confirm": "y"},
                          token_from="/profile", prefix="del")
    assert wrong.status_code == 422 and field_errors(wrong, "del-password") == ["This is not your current password"]
    unconfirmed = portal.submit("/profile/delete", {"password": PASSWORD}, token_from="/profile", prefix="del")
    assert field_errors(unconfirmed, "del-confirm") == ["Please confirm that you want to delete your account"]
    session.refresh(logged_in)
    assert logged_in.erased_at is None and logged_in.email


def test_deleting_the_account_erases_the_person_and_keeps_the_ledger(portal, make_member, session, org):
    person = make_member(givenName="Zebulon", familyName="Quackenbush", phone="+49 171 5550123",
                         street="Quittenweg 17", city="Quedlinburg", zipCode="06484", birthDate="1977-07-07")
    email = person.email
    card_code = members.card_code_of(session, person.id)
    factories.make_tiers(session, org)
    points.mint_to_member(session, person, 500, actor=org.actor, reason=Reason(description="Purchase"))
    points.burn_from_member(session, person, 120, actor=org.actor, reason=Reason(description="Reward"))
    points.mint_to_member(session, person, 700, actor=org.actor, reason=Reason(description="Status"),
                          account_id=org.program.tier_points_account_id)
    session.commit()
    assert portal.login(email).status_code == 302
    save_profile(portal, given_name="Zebulon", family_name="Quackenbush", optin_sms="y")
    self_service.request_password_reset(session, org.id, email, address="192.0.2.7")
    session.commit()
    totals_before = {a: ledger.totals(session, a) for a in (org.program.points_account_id,
                                                             org.program.tier_points_account_id)}
    balances_before = [(w.ledger_account_id, w.balance) for w in ledger.member_wallets(session, person.id)]
    transactions_before = session.scalar(select(func.count()).select_from(LedgerTransaction))
    assert rows_containing(session, "Quackenbush") and rows_containing(session, card_code)  # the scan sees them

    response = portal.submit("/profile/delete", {"password": PASSWORD, "confirm": "y"},
                             token_from="/profile", prefix="del")
    assert response.status_code == 302 and response.location == "/"
    assert "Your account was deleted" in portal.page("/").text(".flashes")
    assert portal.get("/wallet").status_code == 302  # logged out

    session.expire_all()
    row = session.get(Member, person.id)
    assert row.erased_at is not None and row.password_hash is None and not row.active
    assert (row.email, row.given_name, row.family_name, row.phone, row.street, row.city, row.zip_code,
            row.country_code, row.birth_date, row.optins, row.custom_attributes) == (
        None, "", "", "", "", "", "", "", None, {}, {})
    assert session.scalar(select(func.count()).select_from(Identifier).where(Identifier.member_id == person.id)) == 0
    # The ledger is untouched: same sums, same wallets, no new transaction.
    assert {a: ledger.totals(session, a) for a in totals_before} == totals_before
    assert [(w.ledger_account_id, w.balance) for w in ledger.member_wallets(session, person.id)] == balances_before
    assert session.scalar(select(func.count()).select_from(LedgerTransaction)) == transactions_before
    # Who erased and when, without personal data.
    [erased] = session.scalars(select(AuditEntry).where(AuditEntry.action == "member.erased")).all()
    assert (erased.actor_kind, erased.actor_id, erased.target_id) == ("member", person.id, str(person.id))
    assert erased.created_at is not None and erased.details == {}
    # No trace of the person in any table.
    for trace in (email, "Zebulon", "Quackenbush", "5550123", "Quittenweg", "Quedlinburg", "1977-07-07", card_code):
        assert not rows_containing(session, trace), trace
    # Gone from every way in: login, card lookup, search; the email is free for a new signup.
    assert portal.login(email).status_code == 422
    assert not session.scalars(members.search_query(org.id, "Zebulon")).all()
    with pytest.raises(members.NotFound):
        members.lookup(session, org.id, "CARDCODE", card_code)
    assert portal.signup(email).status_code == 302
    assert session.scalar(select(func.count()).select_from(Member).where(Member.email == email)) == 1


def rows_containing(session, needle: str) -> list[tuple[str, tuple]]:
    """Every row of every table whose text (JSON included) contains the needle."""
    found = []
    for table in metadata.sorted_tables:
        for row in session.execute(select(table)).all():
            if needle.lower() in " ".join(str(value) for value in row).lower():
                found.append((table.name, tuple(row)))
    return found


def test_erasure_is_a_domain_function_for_the_api_too(session, org):
    person = factories.make_member(session, org, givenName="Ottilie")
    staff_actor = org.actor
    self_service.erase_member(session, person, actor=staff_actor)
    again = self_service.erase_member(session, person, actor=staff_actor)  # idempotent
    assert again.erased_at == person.erased_at
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "member.erased")).all()
    assert len(entries) == 1 and entries[0].actor_kind == "system"
    tiers.progress(session, person.id, org.program)  # reading an erased member still works
