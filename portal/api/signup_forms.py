"""Signup forms: staff define them; the public reads a form and submits it (the Coniq open signup API).

The public routes need no token. A submission enrols through the same domain
path as the member portal's signup and answers 202 with the same body whether
the email was new or taken; the mail goes out after the commit.
"""
from __future__ import annotations

from flask import request
from flask_babel import force_locale

from ..domain import signup_forms
from ..domain.signup_forms import SignupForm
from ..embed import shared
from .schemas import signup_forms as s
from .core import Call, endpoint, ok, page_response

ORG = "/organizations/<int:organizationId>"
FORMS = f"{ORG}/signup-forms"
FORM = f"{FORMS}/<int:signupFormId>"
PUBLIC = "/signup-forms/<publicId>"
ORDER = {"createdAt": SignupForm.created_at, "id": SignupForm.id, "name": SignupForm.name}


@endpoint(FORMS, role="forms:read", query=s.SignupFormListQuery, response=s.SignupFormPage, tag="Signup forms",
          summary="List signup forms (?active=)")
def list_forms(call: Call):
    def with_counts(forms: list[SignupForm]) -> list[s.SignupFormOut]:
        counts = signup_forms.entry_counts(call.session, [f.id for f in forms])
        return [form_out(f, counts.get(f.id, 0)) for f in forms]

    return page_response(call, signup_forms.forms_query(call.organization_id, active=call.query.active),
                         s.SignupFormPage, with_counts, orders=ORDER, whole_page=True)


@endpoint(FORMS, "POST", role="forms:write", body=s.SignupFormIn, response=s.SignupFormEnvelope, status=201,
          tag="Signup forms", summary="Create a signup form: fields, purpose, consents, allowed origins")
def create_form(call: Call):
    values = call.body.model_dump()
    form = signup_forms.create_form(call.session, call.organization_id, actor=call.actor, **values)
    return ok(s.SignupFormEnvelope(signup_form=form_out(form, 0)).dump(), 201)


@endpoint(FORM, role="forms:read", response=s.SignupFormEnvelope, tag="Signup forms", summary="Get a signup form")
def get_form(call: Call, signupFormId: int):
    form = signup_forms.get_form(call.session, call.organization_id, signupFormId)
    return ok(s.SignupFormEnvelope(signup_form=form_out(form, _count(call, form))).dump())


@endpoint(FORM, "PATCH", role="forms:write", body=s.SignupFormUpdate, response=s.SignupFormEnvelope,
          tag="Signup forms", summary="Change a signup form (active: false takes it off partner sites)")
def update_form(call: Call, signupFormId: int):
    form = signup_forms.get_form(call.session, call.organization_id, signupFormId)
    form = signup_forms.update_form(call.session, form, actor=call.actor, **call.body.model_dump(exclude_unset=True))
    return ok(s.SignupFormEnvelope(signup_form=form_out(form, _count(call, form))).dump())


# --- public ---------------------------------------------------------------------------

@endpoint(PUBLIC, role=None, public=True, query=s.PublicQuery, response=s.PublicSignupFormEnvelope,
          tag="Signup forms (public)", summary="An active form's definition, labels in ?locale=")
def public_form(call: Call, publicId: str):
    form = signup_forms.open_form(call.session, publicId)
    with force_locale(call.query.locale or "en"):
        definition = s.PublicSignupFormOut(
            public_id=form.public_id, name=form.name, purpose=form.purpose, fields=_fields(form),
            consents=_consents(form), thank_you_text=shared.thank_you(form), redirect_url=form.redirect_url)
    return ok(s.PublicSignupFormEnvelope(signup_form=definition).dump())


@endpoint(f"{PUBLIC}/submissions", "POST", role=None, public=True, body=s.SubmissionIn, response=s.SubmissionOut,
          status=202, tag="Signup forms (public)",
          summary="Submit a form: 422 names every bad field; otherwise the same answer for a new and a taken email")
def submit(call: Call, publicId: str):
    body: s.SubmissionIn = call.body
    form = signup_forms.open_form(call.session, publicId)
    submission = signup_forms.submit(
        call.session, form, profile=body.profile, custom_attributes=body.custom_attributes, consents=body.consents,
        address=request.remote_addr or "unknown", locale=body.locale, limits=shared.limits())
    shared.queue_mail(call.session, submission)

    with force_locale(body.locale):
        message = shared.thank_you(form)
    return ok(s.SubmissionOut(message=message, redirect_url=form.redirect_url).dump(), 202)


# --- shaping --------------------------------------------------------------------------

def form_out(form: SignupForm, signup_count: int) -> s.SignupFormOut:
    return s.SignupFormOut(
        id=form.id, organization_id=form.organization_id, public_id=form.public_id, name=form.name,
        purpose=form.purpose, fields=_fields(form), consents=_consents(form), thank_you_text=form.thank_you_text,
        redirect_url=form.redirect_url, allowed_origins=form.allowed_origins, coupon_book_id=form.coupon_book_id,
        active=form.active, embed_url=shared.embed_url(form), embed_code=shared.embed_code(form),
        signup_count=signup_count, created_at=form.created_at, updated_at=form.updated_at)


def _fields(form: SignupForm) -> list[s.FieldOut]:
    return [s.FieldOut(key=f.key, label=shared.label(f), type=f.type, required=f.required, max_length=f.max_length)
            for f in signup_forms.fields_of(form)]


def _consents(form: SignupForm) -> list[s.ConsentOut]:
    return [s.ConsentOut(key=c["key"], text=c["text"], required=c["required"]) for c in form.consents]


def _count(call: Call, form: SignupForm) -> int:
    return signup_forms.entry_counts(call.session, [form.id]).get(form.id, 0)
