"""Signup forms through the API: staff define them, the public reads and submits them (Coniq open signup)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.domain import coupons
from portal.domain.coupons import CouponUsage
from portal.domain.members import Member
from portal.domain.outbox import OutboxEvent
from portal.domain.signup_forms import SignupForm, SignupFormEntry
from portal.domain.throttle import FailedAttempt
from portal.extensions import db
from tests.conftest import Api
from tests.factories import count, make_key
from tests.mailsink import mail_sink, smtp_sink  # noqa: F401  (fixtures)

from .conftest import problem

TERMS = {"key": "terms", "text": "I accept the club rules", "required": True}
NEWSLETTER = {"key": "email", "text": "Send me the newsletter by email", "required": True}


def new_form(api, **fields) -> dict:
    body = {"name": "Join the club", "purpose": "loyalty_card",
            "fields": [{"key": "profile.givenName", "required": True}, {"key": "profile.birthDate"},
                       {"key": "customAttributes.favouriteStore", "label": "Your favourite store", "required": True}],
            "consents": [TERMS], "thankYouText": "Welcome aboard!", "allowedOrigins": ["https://shop.example"],
            **fields}
    r = api.post("/signup-forms", json=body)
    assert r.status_code == 201, r.json
    return r.json["signupForm"]


def public(api, form: dict, path: str = "", method: str = "GET", **kwargs):
    """A request without any token, as from a partner's page."""
    db.session.commit()  # keep the test's set-up: a refused request rolls the shared session back
    return api.client.open(f"/api/v1/signup-forms/{form['publicId']}{path}", method=method, **kwargs)


def submit(api, form: dict, body: dict, address: str = "203.0.113.7"):
    return public(api, form, "/submissions", method="POST", json=body, environ_base={"REMOTE_ADDR": address})


def good(email: str = "nora@example.com", **profile) -> dict:
    return {"profile": {"email": email, "givenName": "Nora", **profile},
            "customAttributes": {"favouriteStore": "Berlin Mitte"}, "consents": {"terms": True}}


# --- staff: defining forms ----------------------------------------------------------------------

def test_create_read_list_and_change_a_form(api, session, org):
    form = new_form(api, redirectUrl="https://shop.example/thanks",
                    allowedOrigins=["HTTPS://Shop.Example/", "https://shop.example:443", "http://127.0.0.1:8080"])
    assert form["purpose"] == "loyalty_card" and form["active"] is True and len(form["publicId"]) >= 16
    # Origins are normalised and kept once: case, a trailing slash and the default port do not make another.
    assert form["allowedOrigins"] == ["https://shop.example", "http://127.0.0.1:8080"]
    assert [f["key"] for f in form["fields"]] == ["profile.email", "profile.givenName", "profile.birthDate",
                                                  "customAttributes.favouriteStore"]
    assert form["fields"][0] == {"key": "profile.email", "label": "Email", "type": "email", "required": True,
                                 "maxLength": 254}
    assert form["fields"][2]["type"] == "date" and form["fields"][2]["required"] is False
    assert form["fields"][3]["label"] == "Your favourite store"
    assert form["embedUrl"] == f"http://localhost/embed/signup/{form['publicId']}"
    assert form["embedCode"] == (f'<script src="http://localhost/embed/signup.js" data-form="{form["publicId"]}" '
                                 'async></script>')
    stored = session.get(SignupForm, form["id"])
    assert stored.organization_id == org.id and stored.consents == [TERMS]

    r = api.get(f"/signup-forms/{form['id']}")
    assert r.status_code == 200 and r.json["signupForm"] == form
    listed = api.get("/signup-forms").json
    assert listed["totalCount"] == 1 and listed["results"][0]["id"] == form["id"]

    r = api.patch(f"/signup-forms/{form['id']}", json={"name": "Join us", "redirectUrl": None, "active": False})
    assert r.status_code == 200, r.json
    changed = r.json["signupForm"]
    assert changed["name"] == "Join us" and changed["redirectUrl"] is None and changed["active"] is False
    assert changed["publicId"] == form["publicId"] and changed["fields"] == form["fields"]
    assert api.get("/signup-forms?active=true").json["totalCount"] == 0


@pytest.mark.parametrize("change, field", [
    ({"allowedOrigins": ["https://*.shop.example"]}, "allowedOrigins"),
    ({"allowedOrigins": ["https://shop.example/signup"]}, "allowedOrigins"),
    ({"allowedOrigins": ["javascript:alert(1)"]}, "allowedOrigins"),
    ({"allowedOrigins": ["https://shop.example; script-src *"]}, "allowedOrigins"),
    ({"redirectUrl": "javascript:alert(1)"}, "redirectUrl"),
    ({"purpose": "newsletter"}, "consents"),
    ({"purpose": "offer"}, "couponBookId"),
    ({"purpose": "offer", "couponBookId": 999999}, "couponBookId"),
    ({"fields": [{"key": "profile.password"}]}, "fields"),
    ({"fields": [{"key": "customAttributes.store"}]}, "fields"),
    ({"fields": [{"key": "profile.city"}, {"key": "profile.city"}]}, "fields"),
    ({"consents": [{"key": "Terms!", "text": "x"}]}, "consents"),
    ({"purpose": "lottery"}, "purpose"),
    ({"organizationId": 1}, "organizationId"),
])
def test_bad_definitions_are_refused_naming_the_field(api, session, change, field):
    before = count(session, SignupForm)
    body = {"name": "Bad", "purpose": "loyalty_card", **change}
    problem(api.post("/signup-forms", json=body), 422, field)
    assert count(session, SignupForm) == before


def test_an_offer_form_takes_only_its_own_organisations_book(api, session, org, other_org):
    theirs = coupons.create_book(session, other_org.id, actor=other_org.actor, name="Theirs", type="REWARD")
    session.commit()
    problem(api.post("/signup-forms", json={"name": "Offer", "purpose": "offer", "couponBookId": theirs.id}),
            422, "couponBookId")
    assert count(session, SignupForm) == 0


def test_roles(api, session, org):
    form = new_form(api)
    reader = api.as_(make_key(session, org, ["forms:read"]))
    members_writer = api.as_(make_key(session, org, ["members:write", "members:read"]))
    assert reader.get("/signup-forms").status_code == 200
    assert reader.get(f"/signup-forms/{form['id']}").status_code == 200
    problem(reader.post("/signup-forms", json={"name": "X", "purpose": "loyalty_card"}), 403, "role")
    problem(reader.patch(f"/signup-forms/{form['id']}", json={"active": False}), 403, "role")
    problem(members_writer.get("/signup-forms"), 403, "role")
    problem(api.client.get(f"/api/v1/organizations/{org.id}/signup-forms"), 401)


def test_another_organisations_forms_are_404(api, session, org, other_org):
    mine = new_form(api)
    theirs = new_form(Api(api.client, other_org))
    assert [f["id"] for f in api.get("/signup-forms").json["results"]] == [mine["id"]]
    problem(api.get(f"/signup-forms/{theirs['id']}"), 404)
    problem(api.patch(f"/signup-forms/{theirs['id']}", json={"active": False}), 404)
    # My token on their organisation's path.
    problem(api.get(f"/api/v1/organizations/{other_org.id}/signup-forms"), 404, "organizationId")
    assert session.get(SignupForm, theirs["id"]).active is True


# --- public: reading and submitting ---------------------------------------------------------------

def test_the_public_definition_needs_no_token(api, session):
    form = new_form(api)
    r = public(api, form)
    assert r.status_code == 200, r.json
    definition = r.json["signupForm"]
    assert definition == {"publicId": form["publicId"], "name": "Join the club", "purpose": "loyalty_card",
                          "fields": form["fields"], "consents": [TERMS], "thankYouText": "Welcome aboard!",
                          "redirectUrl": None}
    assert "allowedOrigins" not in definition and "id" not in definition
    german = public(api, form, "?locale=de").json["signupForm"]
    assert [f["label"] for f in german["fields"]] == ["E-Mail", "Vorname", "Geburtsdatum", "Your favourite store"]
    assert "Access-Control-Allow-Origin" not in r.headers


def test_unknown_and_inactive_forms_are_404(api, session):
    form = new_form(api)
    problem(public(api, {"publicId": "no-such-form"}), 404)
    problem(submit(api, {"publicId": "no-such-form"}, good()), 404)
    api.patch(f"/signup-forms/{form['id']}", json={"active": False})
    problem(public(api, form), 404)
    problem(submit(api, form, good()), 404)
    assert count(session, Member, Member.email == "nora@example.com") == 0


def test_a_submission_names_every_bad_field_and_writes_nothing(api, session):
    form = new_form(api)
    before = (count(session, Member), count(session, FailedAttempt), count(session, OutboxEvent))
    r = submit(api, form, {"profile": {"email": "not-an-email", "birthDate": "2999-01-01", "phone": "+49 30 1"},
                           "customAttributes": {"shoeSize": "42"}, "consents": {"terms": False, "spam": True}})
    body = problem(r, 422)
    assert set(body["errors"]) == {"profile.email", "profile.givenName", "profile.birthDate", "profile.phone",
                                   "customAttributes.favouriteStore", "customAttributes.shoeSize",
                                   "consents.terms", "consents.spam"}
    assert body["errors"]["profile.givenName"] == ["This field is required"]
    assert body["errors"]["profile.phone"] == ["This form does not ask for this"]
    assert (count(session, Member), count(session, FailedAttempt), count(session, OutboxEvent)) == before
    # Shape errors are named too.
    problem(submit(api, form, {"profile": {"email": 5}}), 422, "profile.email")
    problem(submit(api, form, {"profile": {}, "consents": {"terms": "yes"}}), 422, "consents.terms")


def test_a_new_and_a_registered_email_get_the_same_answer(api, session, org, mail_sink):  # noqa: F811
    form = new_form(api)
    first = submit(api, form, good(birthDate="1990-05-31"))
    assert first.status_code == 202, first.json
    assert first.json == {"status": "accepted", "message": "Welcome aboard!", "redirectUrl": None}
    member = session.scalars(select(Member).where(Member.email == "nora@example.com")).one()
    assert (member.organization_id, member.given_name, str(member.birth_date)) == (org.id, "Nora", "1990-05-31")
    assert member.custom_attributes == {"favouriteStore": "Berlin Mitte"} and member.password_hash is None
    entry = session.scalars(select(SignupFormEntry).where(SignupFormEntry.member_id == member.id)).one()
    assert entry.form_id == form["id"] and entry.consents[0]["text"] == TERMS["text"] and entry.consents[0]["accepted"]
    event = session.scalars(select(OutboxEvent).where(OutboxEvent.member_id == member.id,
                                                      OutboxEvent.event_type == "member-signed-up")).one()
    assert event.payload["channel"] == "signup-form"
    [welcome] = mail_sink.wait_for("nora@example.com")
    assert "Your card number:" in welcome.text and "http://localhost/password/forgot" in welcome.text

    again = submit(api, form, good("NORA@example.com", givenName="Someone Else"))
    assert (again.status_code, again.json, again.headers.get("Content-Type")) == (
        first.status_code, first.json, first.headers.get("Content-Type"))
    assert count(session, Member, Member.email == "nora@example.com") == 1
    session.refresh(member)
    assert member.given_name == "Nora"  # nothing of the second submission was written
    assert count(session, SignupFormEntry, SignupFormEntry.form_id == form["id"]) == 1
    [_, notice] = mail_sink.wait_for("nora@example.com", count=2)
    assert notice.subject == "Someone tried to sign up with your email address"
    assert api.get(f"/signup-forms/{form['id']}").json["signupForm"]["signupCount"] == 1


def test_a_newsletter_form_sets_the_email_opt_in(api, session):
    form = new_form(api, purpose="newsletter", fields=[], consents=[NEWSLETTER])
    assert submit(api, form, {"profile": {"email": "ida@example.com"}, "consents": {"email": True}}).status_code == 202
    member = session.scalars(select(Member).where(Member.email == "ida@example.com")).one()
    assert member.optins == {"email": True, "sms": False}


def test_an_offer_form_gives_the_new_member_a_coupon(api, session, org):
    book = coupons.create_book(session, org.id, actor=org.actor, name="Welcome coffee", type="REWARD",
                               publishing_status="published")
    session.commit()
    form = new_form(api, purpose="offer", couponBookId=book.id)
    assert submit(api, form, good("offer@example.com")).status_code == 202
    member = session.scalars(select(Member).where(Member.email == "offer@example.com")).one()
    assert count(session, CouponUsage, CouponUsage.member_id == member.id, CouponUsage.book_id == book.id) == 1
    entry = session.scalars(select(SignupFormEntry).where(SignupFormEntry.member_id == member.id)).one()
    assert entry.coupon_assigned is True and entry.coupon_refusal is None

    # A book that cannot give a coupon any more does not stop the signup; the entry says why.
    coupons.update_book(session, session.get(coupons.CouponBook, book.id), actor=org.actor,
                        publishing_status="disabled")
    session.commit()
    assert submit(api, form, good("late@example.com")).status_code == 202
    late = session.scalars(select(Member).where(Member.email == "late@example.com")).one()
    assert count(session, CouponUsage, CouponUsage.member_id == late.id) == 0
    entry = session.scalars(select(SignupFormEntry).where(SignupFormEntry.member_id == late.id)).one()
    assert entry.coupon_assigned is False and entry.coupon_refusal


def test_submissions_are_limited_per_address_and_per_form(api, session, app, monkeypatch):
    monkeypatch.setitem(app.config, "SIGNUP_FORM_LIMIT_PER_ADDRESS", 2)
    form = new_form(api)
    for n in range(2):
        assert submit(api, form, good(f"a{n}@example.com"), address="198.51.100.1").status_code == 202
    problem(submit(api, form, good("a2@example.com"), address="198.51.100.1"), 429)
    assert count(session, Member, Member.email == "a2@example.com") == 0
    assert submit(api, form, good("b0@example.com"), address="198.51.100.2").status_code == 202

    monkeypatch.setitem(app.config, "SIGNUP_FORM_LIMIT_PER_ADDRESS", 100)
    monkeypatch.setitem(app.config, "SIGNUP_FORM_LIMIT_PER_FORM", 3)  # 3 accepted so far
    problem(submit(api, form, good("c0@example.com"), address="198.51.100.3"), 429)
    assert count(session, Member, Member.email == "c0@example.com") == 0
    other = new_form(api)  # another form has its own count
    assert submit(api, other, good("c0@example.com"), address="198.51.100.3").status_code == 202


def test_the_openapi_document_lists_the_signup_form_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    org = "/api/v1/organizations/{organizationId}"
    assert set(paths[f"{org}/signup-forms"]) == {"get", "post"}
    assert set(paths[f"{org}/signup-forms/{{signupFormId}}"]) == {"get", "patch"}
    definition = paths["/api/v1/signup-forms/{publicId}"]["get"]
    submission = paths["/api/v1/signup-forms/{publicId}/submissions"]["post"]
    assert "security" not in definition and "security" not in submission
    assert {"202", "404", "422", "429"} <= set(submission["responses"])
