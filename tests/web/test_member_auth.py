"""Member portal: signup, login, logout, password reset, throttling, sessions,
no account enumeration, CSRF, and the wall between member and staff sessions."""
from __future__ import annotations

import hashlib
import re

from sqlalchemy import func, select, update

from portal.domain import self_service, passwords, throttle
from portal.domain.audit import AuditEntry
from tests import factories
from portal.domain.self_service import MemberSignup, MemberToken
from portal.domain.members import CARDCODE, Identifier, Member

from .member_helpers import (PASSWORD, all_errors, field_errors, logged_in, mail_sink, make_member,  # noqa: F401
                             member, portal, smtp_sink)
from .page import page

CSRF_NOISE = re.compile(r'value="[^"]*"')


def members_with_email(session, org, email):
    return session.scalar(select(func.count()).select_from(Member).where(
        Member.organization_id == org.id, Member.email == email.lower()))


def test_public_pages_have_labelled_inputs(portal):
    for path in ("/", "/signup", "/login", "/password/forgot"):
        doc = portal.page(path)
        assert doc.has("main#main") and doc.has("a.skip-link")
        for control in doc.all("main input:not([type=hidden]), main select"):
            assert doc.has(f'label[for="{control.get("id")}"]'), (path, control.get("id"))


def test_member_pages_need_a_member_login(portal):
    for path in ("/wallet", "/card", "/card.pdf", "/profile", "/wallet?type=mint"):
        response = portal.get(path)
        assert response.status_code == 302
        assert response.location.startswith("/login?next=")
    htmx = portal.get("/wallet", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith("/login?next=/wallet")


def test_signup_errors_are_shown_on_their_fields(portal, session, org):
    response = portal.submit("/signup", {"email": "not-an-email", "password": "short", "given_name": "",
                                         "family_name": "", "referral_code": ""})
    assert response.status_code == 422
    errors = all_errors(response)
    assert errors["email"] == ["Enter an email address like name@example.com"]
    assert errors["password"] == ["Use at least 10 characters"]
    assert errors["given_name"] == ["This field is required"]
    assert errors["family_name"] == ["This field is required"]
    assert errors["accept_terms"] == ["Please accept the terms to join"]
    assert page(response).has('.error-summary a[href="#email"]')

    response = portal.signup("greta@example.com", password="gretagruber-2000")
    assert field_errors(response, "password") == ["Do not use your name or email address in the password"]
    response = portal.signup("greta@example.com", password="qwertyuiop")
    assert field_errors(response, "password") == ["This password is too easy to guess"]
    response = portal.signup("greta@example.com", referral_code="no spaces allowed")
    assert field_errors(response, "referral_code") == ["This is not a valid referral code"]
    response = portal.signup("greta@example.com", birth_date="2999-01-01")
    assert field_errors(response, "birth_date") == ["The birth date cannot be in the future"]
    assert members_with_email(session, org, "greta@example.com") == 0


def test_signup_mails_a_one_time_link_that_opens_the_wallet(portal, session, org, mail_sink):
    from portal.domain import referrals

    program = referrals.create_program(session, org.id, actor=org.actor, name="Friends")
    referrer = factories.make_member(session, org)
    friend_code = referrals.create_code(session, program, referrer, actor=org.actor).code
    session.commit()
    response = portal.signup("Greta@Example.com", optin_email="y", referral_code=friend_code,
                             birth_date="1990-04-01")
    assert response.status_code == 302 and response.location == "/signup/sent"
    member = session.scalars(select(Member).where(Member.email == "greta@example.com")).one()
    assert (member.given_name, member.family_name, str(member.birth_date)) == ("Greta", "Gruber", "1990-04-01")
    assert member.optins == {"email": True, "sms": False}
    assert member.password_hash.startswith("$argon2id$") and passwords.verify_password(member.password_hash, PASSWORD)
    assert session.scalar(select(Identifier.code).where(Identifier.member_id == member.id,
                                                        Identifier.type == CARDCODE))
    signup = session.scalars(select(MemberSignup).where(MemberSignup.member_id == member.id)).one()
    assert signup.referral_code == friend_code and signup.terms_accepted_at is not None
    assert self_service.referral_code_of(session, member.id) == friend_code
    referral = referrals.referral_of(session, member)
    assert referral is not None and referral.referrer_id == referrer.id and referral.status == "pending"

    [welcome] = mail_sink.wait_for("greta@example.com")
    assert welcome.subject.startswith("Welcome to")
    [link] = [url for url in welcome.links if "/signup/confirm/" in url]
    path = link.split("localhost", 1)[1]
    # Only a digest of the token is stored.
    token = path.rsplit("/", 1)[1]
    stored = session.scalars(select(MemberToken).where(MemberToken.member_id == member.id)).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in stored.token_hash

    # Opening the link changes nothing (mail scanners open links too) ...
    assert portal.get(path).status_code == 200
    assert portal.get("/wallet").status_code == 302
    # ... the button on it logs in and lands on the wallet.
    response = portal.submit(path, {})
    assert response.status_code == 302 and response.location == "/wallet"
    wallet = portal.page("/wallet")
    assert wallet.text(".tile--main .tile__value") == "0"
    assert "Greta" in wallet.text("h1")
    session.refresh(signup)
    assert signup.email_confirmed_at is not None
    # Used once: the same link is refused afterwards.
    portal.logout()
    assert portal.get(path).status_code == 404
    assert portal.submit(path, {}, token_from="/login").status_code == 404


def test_a_taken_email_gets_the_same_answer_and_its_owner_a_mail(portal, member, session, org, mail_sink):
    new = portal.signup("somebody-new@example.com")
    new_page = CSRF_NOISE.sub("", portal.get(new.location).get_data(as_text=True))
    taken = portal.signup(member.email.upper(), password="another passphrase 77")
    assert (taken.status_code, taken.location) == (new.status_code, new.location)
    assert CSRF_NOISE.sub("", portal.get(taken.location).get_data(as_text=True)) == new_page
    assert members_with_email(session, org, member.email) == 1
    session.refresh(member)
    assert passwords.verify_password(member.password_hash, PASSWORD)  # unchanged

    [notice] = mail_sink.wait_for(member.email)
    assert notice.subject == "Someone tried to sign up with your email address"
    assert "/login" in notice.text and "/password/forgot" in notice.text
    assert "/signup/confirm/" not in notice.text


def member_state(session, member) -> tuple:
    """What a member form could change: the member's row and every row a form could add."""
    session.expire_all()
    row = session.get(Member, member.id)
    counts = {model.__name__: session.scalar(select(func.count()).select_from(model))
              for model in (Member, MemberSignup, MemberToken, Identifier, AuditEntry, throttle.FailedAttempt)}
    return (row.email, row.given_name, row.city, row.locale, row.password_hash, row.erased_at, row.active,
            row.optins), counts


def test_csrf_is_required_on_every_form(portal, logged_in, session, mail_sink):  # noqa: F811
    before = member_state(session, logged_in)
    # Every field any of these forms reads, with values that would change something if accepted.
    data = {"email": "x@example.com", "password": PASSWORD, "accept_terms": "y", "given_name": "Forged",
            "city": "Elsewhere", "locale": "de", "lang": "de", "current_password": PASSWORD,
            "new_password": "a forged passphrase 99", "confirm": "a forged passphrase 99",
            "pw-current_password": PASSWORD, "pw-new_password": "a forged passphrase 99",
            "pw-confirm": "a forged passphrase 99", "del-password": PASSWORD, "del-confirm": "y"}
    for path in ("/signup", "/login", "/password/forgot", "/logout", "/language", "/profile", "/profile/password",
                 "/profile/data", "/profile/delete"):
        response = portal.client.post(path, data=data)
        assert response.status_code == 400, path
        assert "This form has expired" in response.get_data(as_text=True), path
        assert "attachment" not in response.headers.get("Content-Disposition", ""), path  # no data export
        assert member_state(session, logged_in) == before, path
    assert mail_sink.to("x@example.com") == mail_sink.to(logged_in.email) == []  # no signup or reset mail
    assert portal.get("/wallet").status_code == 200  # still logged in
    assert passwords.verify_password(session.get(Member, logged_in.id).password_hash, PASSWORD)


def test_login_answers_the_same_for_unknown_email_and_wrong_password(portal, member):
    wrong_password = portal.login(member.email, "not the password at all")
    unknown = portal.login("nobody-here@example.com", "not the password at all")
    assert wrong_password.status_code == unknown.status_code == 422
    strip = lambda r: CSRF_NOISE.sub("", r.get_data(as_text=True)).replace(member.email, "").replace(  # noqa: E731
        "nobody-here@example.com", "")
    assert strip(wrong_password) == strip(unknown)
    assert "Email or password is not correct" in page(wrong_password).text(".error-summary")
    assert portal.get("/wallet").status_code == 302

    response = portal.login(member.email)
    assert response.status_code == 302 and response.location == "/wallet"
    assert portal.page("/wallet").has(".tile--main")


def test_login_follows_a_local_next_link(portal, member):
    # What leaves the site is refused: test_safe_next.py, for the console and the member portal.
    assert portal.login(member.email, next="/card").location == "/card"


def test_logout_ends_the_session(portal, logged_in):
    assert portal.get("/logout").status_code == 200  # a page with a button, no state change on GET
    assert portal.get("/wallet").status_code == 200
    response = portal.logout()
    assert response.status_code == 302
    assert portal.get("/wallet").status_code == 302


def test_failed_logins_are_limited_per_account_and_address(portal, member, session, org):
    limit = throttle.LIMITS["login-account-address"].attempts
    for _ in range(limit):
        assert portal.login(member.email, "wrong password here").status_code == 422
    key = f"{org.id}:{member.email}"
    assert throttle.failures(session, "member-login-account", key, throttle.HOUR) == limit
    response = portal.login(member.email)  # even the right password waits now, from this address
    assert response.status_code == 429
    assert "Too many attempts" in page(response).text(".error-summary")
    # The same answer for an unknown email at its limit: no hint that the account exists.
    for _ in range(limit):
        assert portal.login("ghost@example.com", "wrong password here").status_code == 422
    assert portal.login("ghost@example.com").status_code == 429
    assert throttle.failures(session, "member-login-account", key, throttle.HOUR) == limit


def test_failed_logins_are_limited_per_address(portal, make_member, session):
    other = make_member()
    for _ in range(throttle.LIMITS["login-address"].attempts):
        throttle.record_failure(session, "member-login-address", "203.0.113.9")
    session.commit()
    assert portal.login(other.email, address="203.0.113.9").status_code == 429
    assert portal.login(other.email, address="203.0.113.10").status_code == 302


def test_successful_login_clears_the_account_count(portal, member, session, org):
    for _ in range(4):
        portal.login(member.email, "wrong password here")
    assert portal.login(member.email).status_code == 302
    assert throttle.failures(session, "member-login-account", f"{org.id}:{member.email}", throttle.HOUR) == 0


def test_password_reset_from_the_mail(portal, member, session, mail_sink):
    response = portal.submit("/password/forgot", {"email": member.email.upper()})
    assert response.status_code == 302 and response.location == "/password/forgot/sent"
    [message] = mail_sink.wait_for(member.email)
    assert message.subject == "Reset your password"
    [link] = [url for url in message.links if "/password/reset/" in url]
    path = link.split("localhost", 1)[1]

    assert portal.page(path).has("#password")
    weak = portal.submit(path, {"password": "short", "confirm": "short"})
    assert weak.status_code == 422 and field_errors(weak, "password") == ["Use at least 10 characters"]
    mismatch = portal.submit(path, {"password": "brand new passphrase", "confirm": "something else entirely"})
    assert field_errors(mismatch, "confirm") == ["The passwords do not match"]

    done = portal.submit(path, {"password": "brand new passphrase", "confirm": "brand new passphrase"})
    assert done.status_code == 302 and done.location == "/wallet"
    assert portal.get("/wallet").status_code == 200
    portal.logout()
    assert portal.login(member.email).status_code == 422  # the old password is gone
    assert portal.login(member.email, "brand new passphrase").status_code == 302
    portal.logout()
    # Single use.
    assert portal.get(path).status_code == 404
    again = portal.submit(path, {"password": "another new passphrase", "confirm": "another new passphrase"},
                          token_from="/login")
    assert again.status_code == 404
    assert portal.login(member.email, "another new passphrase").status_code == 422


def test_password_reset_answers_the_same_for_unknown_email(portal, member, mail_sink):
    known = portal.submit("/password/forgot", {"email": member.email})
    unknown = portal.submit("/password/forgot", {"email": "nobody-here@example.com"})
    assert (known.status_code, known.location) == (unknown.status_code, unknown.location)
    assert len(mail_sink.to(member.email)) == 1
    assert mail_sink.to("nobody-here@example.com") == []


def test_password_reset_links_expire_and_a_new_password_revokes_older_links(portal, member, session, org):
    first = self_service.request_password_reset(session, org.id, member.email, address="198.51.100.1")[1]
    second = self_service.request_password_reset(session, org.id, member.email, address="198.51.100.1")[1]
    session.commit()
    assert portal.get(f"/password/reset/{first}").status_code == 200
    session.execute(update(MemberToken).where(MemberToken.token_hash == hashlib.sha256(first.encode()).hexdigest())
                    .values(expires_at=self_service.utcnow() - self_service.dt.timedelta(seconds=1)))
    session.commit()
    assert portal.get(f"/password/reset/{first}").status_code == 404
    expired = portal.submit(f"/password/reset/{first}", {"password": "brand new passphrase",
                                                          "confirm": "brand new passphrase"}, token_from="/login")
    assert expired.status_code == 404

    third = self_service.request_password_reset(session, org.id, member.email, address="198.51.100.1")[1]
    session.commit()
    assert portal.submit(f"/password/reset/{second}", {"password": "brand new passphrase",
                                                       "confirm": "brand new passphrase"}).status_code == 302
    assert portal.get(f"/password/reset/{third}").status_code == 404  # revoked by the new password
    assert portal.get("/password/reset/not-a-real-token").status_code == 404


def test_reset_mails_to_one_address_are_limited(portal, member, session, org, mail_sink):
    for _ in range(self_service.MAIL_LIMIT_PER_EMAIL + 2):
        response = portal.submit("/password/forgot", {"email": member.email})
        assert response.status_code == 302 and response.location == "/password/forgot/sent"
    assert len(mail_sink.to(member.email)) == self_service.MAIL_LIMIT_PER_EMAIL


def test_changing_the_password_ends_other_sessions(portal, logged_in, app, org):
    from .member_helpers import MemberPortal, fresh_client

    other_device = MemberPortal(fresh_client(app), org)
    assert other_device.login(logged_in.email).status_code == 302
    assert other_device.get("/wallet").status_code == 200
    response = portal.submit("/profile/password", {"current_password": PASSWORD, "new_password": "brand new passphrase",
                                                   "confirm": "brand new passphrase"},
                             token_from="/profile", prefix="pw")
    assert response.status_code == 302
    assert portal.get("/wallet").status_code == 200  # this session follows the change
    assert other_device.get("/wallet").status_code == 302  # the other one is over


def test_staff_sessions_do_not_open_member_pages(portal, console, signed_in):
    assert console.get("/console/").status_code == 200
    response = portal.get("/wallet")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_member_sessions_do_not_open_the_console(portal, logged_in):
    assert portal.get("/wallet").status_code == 200
    response = portal.get("/console/")
    assert response.status_code == 302 and "/console/login" in response.location


def test_erased_members_cannot_log_in(portal, member, session, org):
    email = member.email
    assert portal.login(email).status_code == 302
    self_service.erase_member(session, member, actor=org.actor)
    session.commit()
    assert portal.get("/wallet").status_code == 302  # the open session ended too
    assert portal.login(email).status_code == 422


def test_a_flood_of_signups_from_one_address_is_stopped(portal, session, mail_sink):
    for _ in range(self_service.MAIL_LIMIT_PER_ADDRESS):
        throttle.record_failure(session, "member-mail-address", "127.0.0.1")
    session.commit()
    response = portal.signup("flood@example.com")
    assert response.status_code == 429
    assert "Too many attempts" in page(response).text(".error-summary")
    assert session.scalar(select(func.count()).select_from(Member).where(Member.email == "flood@example.com")) == 0


def test_an_unknown_referral_code_reads_the_same_for_new_and_taken_emails(portal, session, org, make_member):
    from portal.domain import referrals

    referrals.create_program(session, org.id, actor=org.actor, name="Friends")
    make_member(email="taken@example.com")
    new = portal.signup("fresh@example.com", referral_code="ZZZZ2345")
    taken = portal.signup("taken@example.com", referral_code="ZZZZ2345")
    assert new.status_code == taken.status_code == 422
    assert field_errors(new, "referral_code") == field_errors(taken, "referral_code") != []
    assert members_with_email(session, org, "fresh@example.com") == 0
