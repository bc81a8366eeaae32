"""The embeddable signup page through the test client: who may frame it, its token (CSRF without a
cookie), the honeypot, the rate limits, errors on the fields, English and German."""
from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from portal.domain import signup_forms
from portal.domain.members import Member
from portal.domain.signup_forms import SignupFormEntry
from portal.domain.throttle import FailedAttempt
from portal.embed.views import TOKEN_SALT

from .member_helpers import field_errors, fresh_client, mail_sink, smtp_sink  # noqa: F401  (fixtures)
from .page import page

ORIGINS = ["https://shop.example", "http://127.0.0.1:8080"]
DEFAULT_POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"


@pytest.fixture
def browser(app, session):
    """A visitor's browser inside a partner page (a fresh client: nothing carried between requests)."""
    yield fresh_client(app)


@pytest.fixture
def make_form(session, org):
    def make(**values):
        values = {"name": "Join the Coffee Club", "purpose": "loyalty_card",
                  "fields": [{"key": "profile.givenName", "required": True},
                             {"key": "customAttributes.store", "label": "Favourite <b>store</b>"}],
                  "consents": [{"key": "terms", "text": "I accept the <i>club</i> rules", "required": True}],
                  "allowed_origins": ORIGINS, "thank_you_text": "Welcome to the club!", **values}
        form = signup_forms.create_form(session, org.id, actor=org.actor, **values)
        session.commit()
        return form

    return make


@pytest.fixture
def form(make_form):
    return make_form()


def token_in(response) -> str:
    return page(response).one('input[name="token"]').get("value")


def fill(browser, form, data: dict | None = None, *, address: str = "203.0.113.9", query: str = "", **kwargs):
    """Open the page, then send it filled in, as a person would."""
    opened = browser.get(f"/embed/signup/{form.public_id}{query}")
    assert opened.status_code == 200, opened.status_code
    data = {"profile.email": "lena@example.com", "profile.givenName": "Lena", "consents.terms": "y",
            "token": token_in(opened), "parent": "", **(data or {})}
    return browser.post(f"/embed/signup/{form.public_id}{query}", data={k: v for k, v in data.items() if v is not None},
                        environ_base={"REMOTE_ADDR": address}, **kwargs)


def members(session, email: str = "lena@example.com") -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Member).where(Member.email == email))


def thanks_text(response) -> str:
    return page(response).text("main")


# --- framing: frame-ancestors on every page -----------------------------------------------------

def test_only_the_forms_origins_may_frame_it_and_every_other_page_refuses_framing(browser, form, make_form):
    r = browser.get(f"/embed/signup/{form.public_id}")
    assert r.status_code == 200
    assert r.headers["Content-Security-Policy"] == (
        f"{DEFAULT_POLICY}; form-action 'self'; frame-ancestors https://shop.example http://127.0.0.1:8080")
    assert "X-Frame-Options" not in r.headers  # DENY would contradict the allowed origins
    assert r.headers["Cache-Control"] == "no-store"

    nobody = make_form(allowed_origins=[])
    r = browser.get(f"/embed/signup/{nobody.public_id}")
    assert r.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")
    assert r.headers["X-Frame-Options"] == "DENY"

    for path in ("/", "/signup", "/login", "/console/login", "/embed/signup/unknown-form", "/api/v1/openapi.json",
                 f"/api/v1/signup-forms/{form.public_id}"):
        r = browser.get(path)
        assert r.headers["Content-Security-Policy"] == f"{DEFAULT_POLICY}; frame-ancestors 'none'", path
        assert r.headers["X-Frame-Options"] == "DENY", path


def test_the_page_sets_no_cookie_and_allows_no_cross_origin_reads(browser, form):
    opened = browser.get(f"/embed/signup/{form.public_id}", headers={"Origin": "https://shop.example"})
    sent = fill(browser, form, headers={"Origin": "https://shop.example"})
    for response in (opened, sent):
        assert "Set-Cookie" not in response.headers  # a third-party iframe would not keep it anyway
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Credentials" not in response.headers
    assert sent.status_code == 200


def test_the_page_tells_its_height_only_to_an_allowed_parent(browser, form):
    allowed = page(browser.get(f"/embed/signup/{form.public_id}?parent=https://shop.example"))
    assert allowed.one("body").get("data-parent-origin") == "https://shop.example"
    assert allowed.one('input[name="parent"]').get("value") == "https://shop.example"
    foreign = page(browser.get(f"/embed/signup/{form.public_id}?parent=https://evil.example"))
    assert foreign.one("body").get("data-parent-origin") == ""


def test_the_script_checks_where_messages_come_from(browser):
    r = browser.get("/embed/signup.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript"
    source = r.get_data(as_text=True)
    assert "event.origin !== portal" in source and "event.source !== frame.contentWindow" in source
    assert "Set-Cookie" not in r.headers and "Access-Control-Allow-Origin" not in r.headers


# --- submitting ------------------------------------------------------------------------------------

def test_a_person_signs_up_through_the_page(browser, session, form, org, mail_sink):  # noqa: F811
    doc = page(browser.get(f"/embed/signup/{form.public_id}"))
    assert doc.text("h1") == "Join the Coffee Club"
    assert [e.get("name") for e in doc.all("form input")] == [
        "token", "parent", "profile.email", "profile.givenName", "customAttributes.store", "consents.terms",
        "website"]
    assert doc.text('label[for="customAttributes-store"]') == "Favourite <b>store</b> (optional)"  # staff text, escaped
    assert doc.text('label[for="consents-terms"]') == "I accept the <i>club</i> rules"
    assert not doc.has("label b") and not doc.has("label i")
    assert not doc.has('input[name="csrf_token"]')

    r = fill(browser, form, {"customAttributes.store": "Hamburg"})
    assert r.status_code == 200 and "Welcome to the club!" in thanks_text(r)
    member = session.scalars(select(Member).where(Member.email == "lena@example.com")).one()
    assert member.organization_id == org.id and member.given_name == "Lena"
    assert member.custom_attributes == {"store": "Hamburg"}
    entry = session.scalars(select(SignupFormEntry).where(SignupFormEntry.member_id == member.id)).one()
    assert entry.form_id == form.id and entry.consents[0]["accepted"] is True
    [welcome] = mail_sink.wait_for("lena@example.com")
    assert welcome.subject.startswith("Welcome to")


def test_a_taken_email_gets_the_same_page(browser, session, form):
    first = fill(browser, form)
    again = fill(browser, form, {"profile.email": "LENA@example.com", "profile.givenName": "Other"})
    assert (again.status_code, thanks_text(again)) == (first.status_code, thanks_text(first))
    assert members(session) == 1


def test_errors_show_on_their_fields_and_keep_what_was_typed(browser, session, form):
    r = fill(browser, form, {"profile.email": "lena-at-example", "profile.givenName": "", "consents.terms": None,
                             "customAttributes.store": "Köln"})
    assert r.status_code == 422
    doc = page(r)
    assert field_errors(doc, "profile-email") == ["Enter an email address like name@example.com"]
    assert field_errors(doc, "profile-givenName") == ["This field is required"]
    assert field_errors(doc, "consents-terms") == ["Please agree to this to sign up"]
    assert doc.one("#profile-email").get("value") == "lena-at-example"
    assert doc.one("#customAttributes-store").get("value") == "Köln"
    assert doc.one("#profile-email").get("aria-invalid") == "true"
    assert token_in(r)  # a fresh token to send it again
    assert members(session, "lena-at-example") == 0


def test_the_page_speaks_german(browser, session, form):
    doc = page(browser.get(f"/embed/signup/{form.public_id}", headers={"Accept-Language": "de-DE,de;q=0.9"}))
    assert doc.one("html").get("lang") == "de"
    assert doc.text('label[for="profile-givenName"]') == "Vorname"
    assert doc.text("button") == "Anmelden"
    r = fill(browser, form, {"profile.givenName": ""}, query="?lang=de")
    assert field_errors(page(r), "profile-givenName") == ["Bitte füllen Sie dieses Feld aus"]


def test_a_closed_or_unknown_form_shows_a_notice_and_takes_nothing(browser, session, form):
    opened = browser.get(f"/embed/signup/{form.public_id}")
    signup_forms.update_form(session, form, actor=signup_forms.system_actor(form.organization_id), active=False)
    session.commit()
    closed = browser.get(f"/embed/signup/{form.public_id}")
    assert closed.status_code == 404 and "not available" in page(closed).text("h1")
    sent = browser.post(f"/embed/signup/{form.public_id}", data={
        "profile.email": "lena@example.com", "profile.givenName": "Lena", "consents.terms": "y",
        "token": token_in(opened)})
    assert sent.status_code == 404 and members(session) == 0
    assert browser.get("/embed/signup/nothing-here").status_code == 404


def test_a_redirecting_form_sends_the_partner_page_on(browser, make_form):
    form = make_form(redirect_url="https://shop.example/thanks")
    doc = page(fill(browser, form))
    assert doc.one("body").get("data-redirect") == "https://shop.example/thanks"
    link = doc.one('a[href="https://shop.example/thanks"]')
    assert link.get("target") == "_top"


# --- bots ------------------------------------------------------------------------------------------

def test_a_filled_honeypot_gets_the_thank_you_page_and_creates_nothing(browser, session, form):
    attempts = session.scalar(select(func.count()).select_from(FailedAttempt))
    trapped = fill(browser, form, {"website": "http://spam.example"})
    assert trapped.status_code == 200
    assert members(session) == 0
    assert session.scalar(select(func.count()).select_from(FailedAttempt)) == attempts
    real = fill(browser, form, {"profile.email": "real@example.com"})
    assert thanks_text(trapped) == thanks_text(real)  # the bot cannot tell
    assert members(session, "real@example.com") == 1


@pytest.mark.parametrize("token", ["missing", "forged", "other form", "expired"])
def test_the_token_is_checked(browser, session, form, make_form, app, token):
    other = make_form()
    good = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=TOKEN_SALT)

    class LongAgo(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - app.config["SIGNUP_FORM_TOKEN_MAX_AGE"] - 60

    value = {"missing": "", "forged": URLSafeTimedSerializer("guessed-key", salt=TOKEN_SALT).dumps(form.public_id),
             "other form": good.dumps(other.public_id),
             "expired": URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=TOKEN_SALT, signer=LongAgo).dumps(
                 form.public_id)}[token]
    r = fill(browser, form, {"token": value})
    assert r.status_code == 400
    doc = page(r)
    assert "This form has expired" in doc.text(".error-summary")
    assert doc.one("#profile-email").get("value") == "lena@example.com"  # nothing typed is lost
    assert members(session) == 0
    # The fresh token in that page works.
    assert fill(browser, form, {"token": token_in(r)}).status_code == 200 and members(session) == 1


def test_rate_limits_refuse_quietly_and_create_nothing(browser, session, form, make_form, app, monkeypatch):
    monkeypatch.setitem(app.config, "SIGNUP_FORM_LIMIT_PER_ADDRESS", 2)
    accepted = fill(browser, form, {"profile.email": "one@example.com"}, address="198.51.100.7")
    fill(browser, form, {"profile.email": "two@example.com"}, address="198.51.100.7")
    refused = fill(browser, form, {"profile.email": "three@example.com"}, address="198.51.100.7")
    assert (refused.status_code, thanks_text(refused)) == (accepted.status_code, thanks_text(accepted))
    assert members(session, "two@example.com") == 1 and members(session, "three@example.com") == 0
    # The limit is per address (over every form) ...
    assert members(session, "three@example.com") == 0
    fill(browser, make_form(), {"profile.email": "four@example.com"}, address="198.51.100.7")
    assert members(session, "four@example.com") == 0
    fill(browser, form, {"profile.email": "five@example.com"}, address="198.51.100.8")
    assert members(session, "five@example.com") == 1
    # ... and per form, whatever the address.
    monkeypatch.setitem(app.config, "SIGNUP_FORM_LIMIT_PER_FORM", 3)
    fill(browser, form, {"profile.email": "six@example.com"}, address="198.51.100.9")
    assert members(session, "six@example.com") == 0
