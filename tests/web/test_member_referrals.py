"""Member referrals: no programme, "Get my code", the code with its absolute share
link and copy button, friends with masked names and their status, points earned;
the /join/<code> landing that fills in the signup form (an unknown code is a
neutral note, not an error page); CSRF and login."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from portal.domain import referrals, self_service
from portal.domain.base import utcnow

from tests import factories

from .member_helpers import PASSWORD, logged_in, mail_sink, make_member, member, portal, smtp_sink  # noqa: F401
from .page import page, text_of


def codes_of(session, owner):
    session.expire_all()
    return list(session.scalars(select(referrals.ReferralCode).where(referrals.ReferralCode.member_id == owner.id)))


def friends(doc):
    """(masked name, status, points) of each friend, newest first."""
    return [(text_of(li.find("*[@class='friend__name']")), text_of(li.find(".//*[@data-status-label]")),
             text_of(li.find("*[@class='friend__points']"))) for li in doc.all("li.friend")]


def flashes(doc):
    return [text_of(p) for p in doc.all(".flash")]


def test_without_a_programme_the_page_says_so(portal, logged_in, session):
    doc = portal.page("/referrals")
    assert doc.text("h1") == "Invite friends"
    assert doc.text("[data-testid=no-programme]") == "There is no referral programme at the moment."
    assert not doc.has('form[action="/referrals/code"]') and not doc.has("[data-testid=referral-code]")
    assert doc.text("[data-testid=referral-points]") == "0"
    assert "No friends have joined with your code yet." in doc.text("#friends-heading ~ p")
    # Asking anyway changes nothing.
    response = portal.submit("/referrals/code", {}, token_from="/referrals", prefix="code")
    assert response.status_code == 303 and response.location == "/referrals"
    assert flashes(portal.page("/referrals")) == ["There is no referral programme at the moment."]
    assert codes_of(session, logged_in) == []


def test_get_my_code_then_share_it_with_an_absolute_link(portal, logged_in, session, programme):
    doc = portal.page("/referrals")
    assert not doc.has("[data-testid=referral-code]")
    assert "you get 100 points and your friend gets 50 points" in doc.text("#code-heading ~ p")
    assert doc.one('form[action="/referrals/code"] button').text.strip() == "Get my code"

    response = portal.submit("/referrals/code", {}, token_from="/referrals", prefix="code")
    assert response.status_code == 303 and response.location == "/referrals"
    [code] = codes_of(session, logged_in)
    doc = portal.page("/referrals")
    assert flashes(doc) == [f"Your referral code is ready: {code.code}"]
    assert doc.text("[data-testid=referral-code]") == code.code
    link = doc.one("#share-link-1")
    assert link.get("value") == f"http://localhost/join/{code.code}" and link.get("readonly") is not None
    assert doc.text("label[for=share-link-1]") == "Your share link"
    copy = doc.one("button[data-copy]")
    assert copy.get("data-copy") == "#share-link-1" and copy.get("type") == "button"
    assert copy.get("data-copied") == "Copied" and copy.get("hidden") is not None  # portal.js shows it
    assert not doc.has('form[action="/referrals/code"]')
    # A second press keeps the same code.
    portal.submit("/referrals/code", {}, token_from="/referrals", prefix="code")
    assert [c.code for c in codes_of(session, logged_in)] == [code.code]


def test_friends_are_masked_with_their_status_and_the_points_add_up(portal, logged_in, session, org, programme):
    code = referrals.ensure_member_code(session, logged_in, actor=org.actor)
    anna = factories.make_member(session, org, givenName="Anna", familyName="Schmidt")
    bert = factories.make_member(session, org, givenName="bert", familyName="Brandt")
    carl = factories.make_member(session, org, givenName="Carl", familyName="Cramer")
    for friend in (anna, bert, carl):
        referrals.attach_referral(session, friend, code.code, actor=org.actor)
    for friend in (anna, bert):
        referrals.complete_referral(session, referrals.referral_of(session, friend), programme, actor=org.actor)
    stranger = factories.make_member(session, org, givenName="Someone", familyName="Else")
    referrals.attach_referral(session, stranger, referrals.ensure_member_code(
        session, factories.make_member(session, org), actor=org.actor).code, actor=org.actor)
    session.commit()

    doc = portal.page("/referrals")
    assert friends(doc) == [("C*** C.", "Not counted yet", "Your points: –"),
                            ("B*** B.", "Counted", "Your points: +100"), ("A*** S.", "Counted", "Your points: +100")]
    assert doc.text("li.friend .friend__meta").endswith(f"joined {utcnow():%b} {utcnow().day}, {utcnow().year}")
    html = doc.html
    for secret in ("Anna", "Schmidt", "Brandt", "Cramer", anna.email, "Someone"):
        assert secret not in html
    assert doc.text("[data-testid=referral-points]") == "200"
    assert doc.text("[data-testid=friends-joined]") == "3" and doc.text("[data-testid=friends-completed]") == "2"
    assert doc.text("[data-testid=referral-code]") == code.code



def test_a_friend_without_a_name_to_mask_is_a_friend(portal, logged_in, session, org, programme):
    code = referrals.ensure_member_code(session, logged_in, actor=org.actor)
    erased = factories.make_member(session, org, givenName="Erna", familyName="Ernst")
    referrals.attach_referral(session, erased, code.code, actor=org.actor)
    self_service.erase_member(session, erased, actor=org.actor)
    session.commit()
    assert referrals.masked_name(erased) is None
    assert friends(portal.page("/referrals")) == [("A friend", "Not counted yet", "Your points: –")]

def test_a_programme_that_has_ended_hides_the_code_but_keeps_the_friends(portal, logged_in, session, org,
                                                                          programme):
    code = referrals.ensure_member_code(session, logged_in, actor=org.actor)
    referrals.attach_referral(session, factories.make_member(session, org, givenName="Dora", familyName="D"),
                              code.code, actor=org.actor)
    referrals.update_program(session, programme, actor=org.actor, valid_from=utcnow() - dt.timedelta(days=30),
                             valid_to=utcnow() - dt.timedelta(days=1))
    session.commit()
    doc = portal.page("/referrals")
    assert doc.text("[data-testid=no-programme]") == "There is no referral programme at the moment."
    assert not doc.has("[data-testid=referral-code]") and code.code not in doc.html
    assert [f[0] for f in friends(doc)] == ["D*** D."]


def test_german_labels_and_an_erased_friend(portal, logged_in, session, org, programme):
    logged_in.locale = "de"
    code = referrals.ensure_member_code(session, logged_in, actor=org.actor)
    friend = factories.make_member(session, org, givenName="Eva", familyName="E")
    referrals.attach_referral(session, friend, code.code, actor=org.actor)
    friend.erased_at, friend.given_name, friend.family_name = utcnow(), "", ""
    session.commit()
    doc = portal.page("/referrals")
    assert doc.text("h1") == "Freunde einladen"
    assert friends(doc) == [("Ein Freund", "Noch nicht gezählt", "Ihre Punkte: –")]


def test_referral_pages_need_a_member_and_csrf(portal, member, session, programme):
    response = portal.get("/referrals")
    assert response.status_code == 302 and response.location == "/login?next=/referrals"
    token = portal.csrf("/login")
    assert portal.client.post("/referrals/code", data={"code-csrf_token": token}).location.startswith("/login")
    portal.login(member.email)
    assert portal.client.post("/referrals/code", data={}).status_code == 400
    assert codes_of(session, member) == []


# --- /join/<code> ---------------------------------------------------------------------------------

def test_join_fills_in_the_signup_form_and_the_friend_is_referred(portal, session, org, make_member, programme):
    referrer = make_member(givenName="Rita", familyName="Referrer")
    code = referrals.ensure_member_code(session, referrer, actor=org.actor)
    session.commit()
    doc = portal.page(f"/join/{code.code.lower()}")
    assert doc.text("h1").startswith("Join")
    assert doc.one("#referral_code").get("value") == code.code
    assert doc.one("form.form").get("action") == "/signup"
    assert flashes(doc) == ["A friend invited you: join with their code and you both collect extra points."]
    assert "Rita" not in doc.html and "Referrer" not in doc.html

    response = portal.signup("friend@example.com", referral_code=doc.one("#referral_code").get("value"))
    assert response.status_code == 302 and response.location == "/signup/sent"
    friend = session.scalars(select(referrals.Member).where(referrals.Member.email == "friend@example.com")).one()
    referral = referrals.referral_of(session, friend)
    assert referral.referrer_id == referrer.id and referral.status == "pending"


@pytest.mark.parametrize("code", ["NOSUCHCODE", "x", "bad%20code", "A" * 60])
def test_join_with_an_unknown_code_shows_the_form_with_a_neutral_note(portal, session, programme, code):
    response = portal.get(f"/join/{code}")
    assert response.status_code == 200
    doc = page(response)
    assert doc.has("form.form #email") and not doc.has(".error-summary") and not doc.has(".flash--error")
    assert not doc.one("#referral_code").get("value")
    assert flashes(doc) == ["This invitation link is not valid any more, but you are welcome to join."]


def test_join_when_the_programme_has_stopped_reads_like_an_unknown_code(portal, session, org, make_member,
                                                                        programme):
    code = referrals.ensure_member_code(session, make_member(), actor=org.actor)
    referrals.update_program(session, programme, actor=org.actor, active=False)
    session.commit()
    doc = portal.page(f"/join/{code.code}")
    assert not doc.one("#referral_code").get("value")
    assert flashes(doc) == ["This invitation link is not valid any more, but you are welcome to join."]


def test_join_in_german_and_for_a_member_already_logged_in(portal, logged_in, session, org, programme):
    code = referrals.ensure_member_code(session, logged_in, actor=org.actor)
    session.commit()
    response = portal.get(f"/join/{code.code}")
    assert response.status_code == 302 and response.location == "/wallet"
    portal.get(portal.logout().location)  # the logout's own message is shown there
    doc = portal.page(f"/join/{code.code}", headers={"Accept-Language": "de"})
    assert flashes(doc) == ["Sie wurden eingeladen: Werden Sie mit diesem Code Mitglied, dann sammeln Sie beide "
                            "Extrapunkte."]
    assert doc.text("label[for=referral_code]") == "Empfehlungscode (optional)"
    assert session.scalar(select(func.count()).select_from(referrals.Referral)) == 0
