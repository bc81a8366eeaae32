"""Signup forms in the console: create and edit with errors on their fields, the partner snippet,
switching off, roles and isolation."""
from __future__ import annotations


from portal.domain import coupons, signup_forms
from portal.domain.signup_forms import SignupForm
from tests import factories

from .console_helpers import ConsoleForm
from .page import field_error, page


FORM = ConsoleForm("/console/signup-forms/new", name="Join the Coffee Club", purpose="loyalty_card", coupon_book_id="",
                   profile_fields=["givenName", "city"], required_fields=["givenName"],
                   custom_fields="*favouriteStore: Your favourite store\nshoeSize: Shoe size",
                   consents="*terms: I accept the club rules\nemail: Send me offers by email",
                   thank_you_text="Welcome!", redirect_url="",
                   allowed_origins="https://shop.example\nhttps://partner.example:8443", active="y")


def named(session, name: str) -> SignupForm | None:
    session.expire_all()
    return factories.first(session, SignupForm, SignupForm.name == name)


def test_staff_create_a_form_and_get_the_tag_to_paste(console, signed_in, session, org):
    assert "Signup forms" in page(console.get("/console/")).texts("nav a")
    r = FORM.submit(console)
    assert r.status_code == 302, page(r).texts(".field-error")
    form = named(session, "Join the Coffee Club")
    assert form.organization_id == org.id and form.active
    assert form.fields == [{"key": "profile.givenName", "label": "", "required": True},
                           {"key": "profile.city", "label": "", "required": False},
                           {"key": "customAttributes.favouriteStore", "label": "Your favourite store", "required": True},
                           {"key": "customAttributes.shoeSize", "label": "Shoe size", "required": False}]
    assert form.consents == [{"key": "terms", "text": "I accept the club rules", "required": True},
                             {"key": "email", "text": "Send me offers by email", "required": False}]
    assert form.allowed_origins == ["https://shop.example", "https://partner.example:8443"]
    assert r.location == f"/console/signup-forms/{form.id}"

    doc = page(console.get(r.location))
    assert doc.text("#embed-code") == (f'<script src="http://localhost/embed/signup.js" data-form="{form.public_id}" '
                                       'async></script>')
    assert doc.text("#allowed-origins") == "https://shop.example, https://partner.example:8443"
    listed = page(console.get("/console/signup-forms"))
    assert listed.one(f'tr[data-form-id="{form.id}"]') is not None


def test_editing_shows_what_is_stored_and_switches_the_form_off(console, signed_in, session, org):
    FORM.submit(console)
    form = named(session, "Join the Coffee Club")
    doc = page(console.get(f"/console/signup-forms/{form.id}/edit"))
    assert doc.one("#custom_fields").text.strip() == "*favouriteStore: Your favourite store\nshoeSize: Shoe size"
    assert doc.one("#allowed_origins").text.strip() == "https://shop.example\nhttps://partner.example:8443"
    r = console.post(f"/console/signup-forms/{form.id}/edit", FORM.data(active="", consents="*terms: Club rules",
                                                                        allowed_origins="https://shop.example"))
    assert r.status_code == 302
    session.refresh(form)
    assert form.active is False and form.allowed_origins == ["https://shop.example"]
    assert form.consents == [{"key": "terms", "text": "Club rules", "required": True}]
    assert signup_forms.find_public(session, form.public_id).id == form.id  # the public id does not change


def test_domain_errors_show_on_their_fields_and_nothing_is_saved(console, signed_in, session, other_org):
    theirs = coupons.create_book(session, other_org.id, actor=other_org.actor, name="Theirs", type="REWARD")
    session.commit()
    r = FORM.submit(console, allowed_origins="https://*.shop.example")
    assert r.status_code == 422 and "not an origin" in field_error(r, "allowed_origins")
    r = FORM.submit(console, purpose="newsletter")
    assert r.status_code == 422 and "key email" in field_error(r, "consents")
    r = console.post("/console/signup-forms/new", FORM.data(purpose="offer", coupon_book_id=str(theirs.id)))
    assert r.status_code == 422 and "coupon book" in field_error(r, "coupon_book_id")
    r = FORM.submit(console, consents="terms without a colon")
    assert r.status_code == 422 and "key: text" in field_error(r, "consents")
    assert named(session, "Join the Coffee Club") is None


def test_roles_and_isolation(console, sign_in_as, session, org, other_org):
    theirs = signup_forms.create_form(session, other_org.id, actor=other_org.actor, name="Theirs",
                                      purpose="loyalty_card")
    session.commit()
    sign_in_as(["forms:read"])
    assert console.get("/console/signup-forms").status_code == 200
    assert console.get("/console/signup-forms/new").status_code == 403
    assert console.get(f"/console/signup-forms/{theirs.id}").status_code == 404
    sign_in_as(["members:read"])
    assert "Signup forms" not in page(console.get("/console/")).texts("nav a")
    assert console.get("/console/signup-forms").status_code == 403


def test_another_organisations_form_cannot_be_edited(console, signed_in, session, other_org):
    theirs = signup_forms.create_form(session, other_org.id, actor=other_org.actor, name="Theirs",
                                      purpose="loyalty_card")
    session.commit()
    assert console.post(f"/console/signup-forms/{theirs.id}/edit", FORM.data(name="Mine now")).status_code == 404
    session.refresh(theirs)
    assert theirs.name == "Theirs"
