"""Erasure keeps its promise everywhere (RELIABILITY: "0 personal data left in tables"): a person with
distinctive details touches every part of the portal that can keep something about them, through the
real faces, is erased, and then no column of any table (the whole metadata, so a new table is swept
too) holds any of their details."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from portal import worker
from portal.domain import coupons, custom_events, ledger, members, orders, referrals, signup_forms, webhooks
from portal.domain.actors import system_actor
from portal.domain.bulk import member_import
from portal.domain.bulk.jobs import BulkJobRow
from portal.domain.ledger import LedgerEntry, LedgerTransaction
from portal.domain.mail_deliveries import MailDelivery
from portal.domain.members import Member
from portal.domain.models import metadata
from portal.domain.orders import ItemInput, OrderInput
from tests import factories

from .member_helpers import PASSWORD, fresh_client, mail_sink, portal, smtp_sink  # noqa: F401  (fixtures)
from .page import page

EMAIL = "Zygmunt.Quellbrunn@Example.org"
PERSON = {"email": EMAIL.lower(), "given": "Zygmunt", "family": "Quellbrunnova", "phone": "+49 171 8675309",
          "street": "Xylophonweg 42", "city": "Wolkenkuckucksheim", "zip": "D-97531", "birth": "1969-04-13"}
TRACES = ("quellbrunn", "Zygmunt", "Quellbrunnova", "8675309", "Xylophonweg", "Wolkenkuckucksheim", "97531",
          "1969-04-13")


def rows_holding(session, trace: str) -> list[tuple[str, str, object]]:
    """(table, column, row id) of every value in any table that holds `trace`, case-insensitively."""
    trace, found = trace.lower(), []
    for table in metadata.sorted_tables:
        for row in session.execute(select(table)).mappings():
            for column, value in row.items():
                if value is not None and trace in str(value).lower():
                    found.append((table.name, column, row.get("id")))
    return found


def test_after_erasure_no_table_holds_anything_of_the_person(app, session, org, portal, mail_sink):  # noqa: F811
    # What the organisation runs: a webhook receiver for every event, a signup form, a coupon to claim.
    webhooks.create_subscription(session, org.id, actor=org.actor, name="CRM", url="https://crm.partner.example/h",
                                 event_types=list(webhooks.EVENT_TYPES), allow_private=False)
    form = signup_forms.create_form(session, org.id, actor=org.actor, name="Join", purpose="loyalty_card",
                                    fields=[{"key": "profile.givenName", "required": True},
                                            {"key": "profile.familyName", "required": True}],
                                    consents=[{"key": "terms", "text": "I accept", "required": True}],
                                    allowed_origins=["https://shop.example"])
    book = coupons.create_book(session, org.id, actor=org.actor, name="Free coffee", type=coupons.REWARD,
                               publishing_status=coupons.PUBLISHED)
    coupons.generate_codes(session, book, 2, actor=system_actor(org.id, "test"), prefix="CUP-")
    session.commit()

    # 1. The person joins through the embedded signup form (welcome mail, form entry).
    browser = fresh_client(app)
    opened = browser.get(f"/embed/signup/{form.public_id}")
    token = page(opened).one('input[name="token"]').get("value")
    joined = browser.post(f"/embed/signup/{form.public_id}", environ_base={"REMOTE_ADDR": "203.0.113.9"}, data={
        "token": token, "parent": "", "profile.email": EMAIL, "profile.givenName": PERSON["given"],
        "profile.familyName": PERSON["family"], "consents.terms": "y"})
    assert joined.status_code == 200
    person = session.scalars(select(Member).where(Member.email == PERSON["email"])).one()
    mail_sink.wait_for(PERSON["email"])
    # 2. Signs up again on the portal (the "account exists" note), 3. sets a password from a reset mail.
    assert portal.signup(EMAIL, given_name=PERSON["given"], family_name=PERSON["family"]).status_code == 302
    mail_sink.wait_for(PERSON["email"], 2)
    assert portal.submit("/password/forgot", {"email": EMAIL}).status_code == 302
    reset = mail_sink.wait_for(PERSON["email"], 3)[-1]
    [link] = [url for url in reset.links if "/password/reset/" in url]
    path = link.split("localhost", 1)[1]
    assert portal.submit(path, {"password": PASSWORD, "confirm": PASSWORD}).status_code == 302
    # 4. Fills in the profile.
    saved = portal.submit("/profile", {"given_name": PERSON["given"], "family_name": PERSON["family"],
                                       "birth_date": PERSON["birth"], "phone": PERSON["phone"],
                                       "street": PERSON["street"], "zip_code": PERSON["zip"],
                                       "city": PERSON["city"], "country_code": "de", "optin_email": "y",
                                       "locale": "en"})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    # 5. Buys something (earning points), 6. claims a coupon, 7. downloads their data.
    orders.record_order(session, person, OrderInput(
        external_id="Q-1", status="created", total=Decimal(40), location_code="BER-01",
        items=[ItemInput(sku="SHOE", quantity=1, unit_price=Decimal(40))]), actor=org.actor)
    factories.give_points(session, org, person, 300)
    session.commit()
    claimed = portal.submit(f"/coupons/books/{book.id}/claim", {"request_key": "a-key-of-sixteen-chars"},
                            token_from="/coupons")
    assert claimed.status_code == 303
    exported = portal.submit("/profile/data", {}, token_from="/profile", prefix="export")
    assert exported.status_code == 200 and "Quellbrunnova" in exported.get_data(as_text=True)
    # 8. Appears in a staff member import (refused: the email is taken), 9. grants a partner app access,
    csv = (f"email,givenName,familyName,phone,street,city,zipCode,birthDate\n"
           f"{EMAIL},{PERSON['given']},{PERSON['family']},{PERSON['phone']},{PERSON['street']},{PERSON['city']},"
           f"{PERSON['zip']},{PERSON['birth']}\n"
           f"someone.else@example.com,Other,Person,,,,,\n").encode()
    job = member_import.check_file(session, org.id, "spring-members.csv", csv, actor=org.actor)
    member_import.confirm(session, job, actor=org.actor)
    partner, _ = factories.make_partner_app(session, org)
    factories.member_token(session, partner, person, "profile")
    # 11. A partner app reports a custom event about them, in words of its own.
    custom_events.create_event_type(session, org.id, name="store-visited", actor=org.actor)
    custom_events.track_event(session, person, "store-visited", {"store": f"{PERSON['city']} Mitte",
                                                                 "visitors": [f"{PERSON['given']} and a friend"]},
                              actor=org.actor, system_unique_key="visit-1",
                              description=f"Visit of {PERSON['family']}")
    # 12. Staff note why they changed the language, naming the caller.
    members.update_member(session, person, actor=org.actor, locale="de",
                          reason=f"{PERSON['given']} {PERSON['family']} phoned from {PERSON['phone']}")
    # 10. Was brought by a friend, from the app on their phone (the device id is theirs too).
    referrals.create_program(session, org.id, actor=org.actor, name="Bring a friend")
    friend = factories.make_member(session, org, email="friend@example.com")
    code = referrals.ensure_member_code(session, friend, actor=org.actor)
    referrals.attach_referral(session, person, code.code, actor=org.actor, device_id="iphone-of-quellbrunn")
    session.commit()
    worker.run_bulk_jobs(seconds=5)
    mail_sink.deliver()  # drains the outbox: webhook deliveries of every event so far
    session.expire_all()

    before = {trace: rows_holding(session, trace) for trace in TRACES}
    assert all(before.values()), {t: rows for t, rows in before.items() if not rows}  # the sweep sees them
    tables_before = {table for rows in before.values() for table, _, _ in rows}
    assert {"members", "mail_deliveries", "bulk_job_rows", "referrals", "outbox_events",
            "audit_log"} <= tables_before, tables_before
    balances = [(w.ledger_account_id, w.balance) for w in ledger.member_wallets(session, person.id)]
    ledger_rows = (session.scalar(select(func.count()).select_from(LedgerTransaction)),
                   session.scalar(select(func.count()).select_from(LedgerEntry)))

    erased = portal.submit("/profile/delete", {"password": PASSWORD, "confirm": "y"}, token_from="/profile",
                           prefix="del")
    assert erased.status_code == 302
    mail_sink.deliver()  # the worker runs on: the erasure's own event reaches the receivers too
    worker.run_bulk_jobs(seconds=5)
    session.expire_all()

    left = {trace: rows for trace in TRACES if (rows := rows_holding(session, trace))}
    assert left == {}, left
    # The ledger is untouched and the mail counts still add up.
    assert [(w.ledger_account_id, w.balance) for w in ledger.member_wallets(session, person.id)] == balances
    assert (session.scalar(select(func.count()).select_from(LedgerTransaction)),
            session.scalar(select(func.count()).select_from(LedgerEntry))) == ledger_rows
    assert session.scalar(select(func.count()).select_from(MailDelivery)) == 3
    # The import keeps its job and the other person's row; the person's refused row says only why.
    rows = session.scalars(select(BulkJobRow).where(BulkJobRow.job_id == job.id).order_by(BulkJobRow.line))
    assert [(r.key, r.data, r.problem, r.outcome) for r in rows] == [
        ("", {}, member_import.ERASED, member_import.REFUSED),
        ("someone.else@example.com", {"email": "someone.else@example.com", "givenName": "Other",
                                      "familyName": "Person"}, None, member_import.CREATED)]
