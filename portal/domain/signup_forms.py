"""Embeddable signup forms (the Coniq open signup API): forms staff build in
the console or the API, which people fill in on partner sites (an iframe, or
the public JSON API) to join as members.

Invariants:
- A form belongs to one organisation. Its public id is random, unique and never
  changes; an unknown or inactive form answers NotFound to the public.
- `allowed_origins` are exact origins (`scheme://host[:port]`, http or https,
  no path, no wildcard): the embeddable page may be framed by these only.
- Every form asks for the email (`profile.email`, required); the other fields
  are profile fields or custom attributes, each at most once.
- A newsletter form has a required consent with key `email` (the newsletter
  opt-in); an offer form names a coupon book of its organisation.
- A submission enrols through `self_service.enrol_self_signup`, the path of
  the member portal's signup: it reads the same whether the email was new or
  taken, and for a taken email writes nothing but a mail count.
- A submission is checked against the per-address and per-form limits before
  anything is written, and all its fields are checked at once (every bad field
  is named); a refused submission writes nothing.
- For a new member the consents are recorded with the exact text shown and
  the time (`SignupFormEntry`); an offer form's new member gets one coupon of
  the book, and a refused coupon (sold out, limit reached) does not undo the
  signup: the entry records why.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit, coupons, self_service, throttle
from .actors import Actor, system_actor
from .base import Base, OwnedRow, get_owned, utcnow
from .checks import required_name
from .errors import DomainError, NotFound, ValidationFailed
from .self_service import N_, OPTIN_TYPES, SignupOutcome

NEWSLETTER, OFFER, LOYALTY_CARD = "newsletter", "offer", "loyalty_card"
PURPOSES = (NEWSLETTER, OFFER, LOYALTY_CARD)
EMAIL = "profile.email"
# Profile fields a form may ask for: label (translated on the web side), input type, longest value.
PROFILE_FIELDS = {
    "email": (N_("Email"), "email", 254),
    "givenName": (N_("Given name"), "text", 100),
    "familyName": (N_("Family name"), "text", 100),
    "birthDate": (N_("Birth date"), "date", 10),
    "phone": (N_("Mobile phone"), "tel", 50),
    "street": (N_("Street and number"), "text", 200),
    "zipCode": (N_("Postcode"), "text", 20),
    "city": (N_("City"), "text", 100),
    "countryCode": (N_("Country code"), "text", 2),
}
CUSTOM_VALUE_LENGTH = 500
MAX_FIELDS, MAX_CONSENTS, MAX_ORIGINS = 20, 10, 20
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
CONSENT_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,29}$")
ORIGIN = re.compile(r"^(https?)://([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$")
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE_SHAPE = re.compile(r"^\+?[0-9 ()/-]{4,}$")

WINDOW = dt.timedelta(hours=1)
LIMIT_PER_ADDRESS = 30    # submissions from one network address per hour, over every form (as the portal's signup)
LIMIT_PER_FORM = 1000     # submissions to one form per hour
ADDRESS_SCOPE, FORM_SCOPE = "signup-form-address", "signup-form"

REQUIRED = N_("This field is required")
THROTTLED = N_("Too many signups from here just now. Please try again in an hour.")


class SignupForm(OwnedRow, Base):
    """A signup form. `fields` is a list of {key, label, required} (label: staff text, custom attributes
    only), `consents` a list of {key, text, required}; both as the API spells them."""

    __tablename__ = "signup_forms"
    __table_args__ = (Index("ix_signup_forms_org_created", "organization_id", "created_at"),)

    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(20))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    consents: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    thank_you_text: Mapped[str] = mapped_column(String(2000), default="")
    redirect_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    allowed_origins: Mapped[list[str]] = mapped_column(default=list)
    coupon_book_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_books.id"), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SignupFormEntry(OwnedRow, Base):
    """A member who joined through a form: the consents as shown and given, and the offer's outcome."""

    __tablename__ = "signup_form_entries"

    form_id: Mapped[int] = mapped_column(ForeignKey("signup_forms.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    consents: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    coupon_assigned: Mapped[bool] = mapped_column(Boolean, default=False)
    coupon_refusal: Mapped[str | None] = mapped_column(String(50), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SubmissionInvalid(ValidationFailed):
    """Some submitted values are not acceptable; `errors` names every one of them."""

    code = "submission_invalid"
    title = "Invalid field"


@dataclass(frozen=True)
class FormField:
    key: str            # profile.givenName | customAttributes.favouriteStore
    label: str          # N_-marked for profile fields, staff text for custom attributes
    type: str           # email | text | date | tel
    required: bool
    max_length: int

    @property
    def custom(self) -> bool:
        return self.key.startswith("customAttributes.")

    @property
    def name(self) -> str:
        return self.key.partition(".")[2]


@dataclass
class Submission:
    """What a submission did. Callers answer the same whatever `signup.created` says."""

    form: SignupForm
    signup: SignupOutcome
    entry: SignupFormEntry | None = None


# --- defining forms ---------------------------------------------------------------------

def create_form(session: Session, organization_id: int, *, actor: Actor, name: str, purpose: str,
                **values: Any) -> SignupForm:
    """Define a form with a fresh public id. Raises ValidationFailed naming the field."""
    form = SignupForm(organization_id=organization_id, public_id=secrets.token_urlsafe(12), fields=[],
                      consents=[], allowed_origins=[], thank_you_text="", active=True)
    _apply(session, form, {"name": name, "purpose": purpose, **values})
    return audit.record_added(session, actor, "signup_form.created", form)


def update_form(session: Session, form: SignupForm, *, actor: Actor, **changes: Any) -> SignupForm:
    """Change what was given (None leaves a value as it is, except redirect_url and coupon_book_id)."""
    _apply(session, form, changes)
    return audit.record_changed(session, actor, "signup_form.updated", form, fields=sorted(_camel(k) for k in changes))


def get_form(session: Session, organization_id: int, form_id: int) -> SignupForm:
    return get_owned(session, SignupForm, form_id, organization_id, what="Signup form", field="signupFormId")


def forms_query(organization_id: int, *, active: bool | None = None):
    """The organisation's forms; only the active (or inactive) ones when `active` is given."""
    stmt = select(SignupForm).where(SignupForm.organization_id == organization_id)
    return stmt if active is None else stmt.where(SignupForm.active.is_(active))


def find_public(session: Session, public_id: str) -> SignupForm | None:
    """The form with this public id, active or not."""
    if not public_id or len(public_id) > 32:
        return None
    return session.scalars(select(SignupForm).where(SignupForm.public_id == public_id)).first()


def open_form(session: Session, public_id: str) -> SignupForm:
    """The active form with this public id. Raises NotFound for an unknown or inactive one."""
    form = find_public(session, public_id)
    if form is None or not form.active:
        raise NotFound("Signup form not found", field="publicId")
    return form


def fields_of(form: SignupForm) -> list[FormField]:
    """The form's fields in order, the email first."""
    result = [_field(EMAIL, True, "")]
    result += [_field(f["key"], bool(f.get("required")), f.get("label") or "") for f in form.fields
               if f["key"] != EMAIL]
    return result


def entry_counts(session: Session, form_ids: list[int]) -> dict[int, int]:
    """Members who joined through each form."""
    if not form_ids:
        return {}
    return dict(session.execute(select(SignupFormEntry.form_id, func.count()).where(
        SignupFormEntry.form_id.in_(form_ids)).group_by(SignupFormEntry.form_id)).all())


def recent_entries(session: Session, form: SignupForm, limit: int = 20) -> list[SignupFormEntry]:
    return list(session.scalars(select(SignupFormEntry).where(SignupFormEntry.form_id == form.id)
                                .order_by(SignupFormEntry.id.desc()).limit(limit)))


# --- submitting -------------------------------------------------------------------------

def submit(session: Session, form: SignupForm, *, profile: dict[str, Any], custom_attributes: dict[str, Any],
           consents: dict[str, bool], address: str, locale: str = "en",
           limits: tuple[int, int] = (LIMIT_PER_ADDRESS, LIMIT_PER_FORM)) -> Submission:
    """Enrol the person who filled in the form (see the module's invariants).

    `limits` are (per address, per form) submissions per hour. Raises NotFound
    (inactive form), TooManyAttempts, SubmissionInvalid naming every bad field.
    """
    if not form.active:
        raise NotFound("Signup form not found", field="publicId")
    per_address, per_form = limits
    throttle.serialize(session, ADDRESS_SCOPE, address)  # then the form: always in this order (no deadlock)
    throttle.serialize(session, FORM_SCOPE, form.public_id)
    throttle.check(session, ADDRESS_SCOPE, address, limit=per_address, window=WINDOW, message=THROTTLED)
    throttle.check(session, FORM_SCOPE, form.public_id, limit=per_form, window=WINDOW, message=THROTTLED)
    clean_profile, clean_attributes, given = _clean(form, profile, custom_attributes, consents)
    throttle.record_failure(session, ADDRESS_SCOPE, address)
    throttle.record_failure(session, FORM_SCOPE, form.public_id)
    signup = self_service.enrol_self_signup(
        session, form.organization_id, profile=clean_profile, channel="signup-form", locale=locale,
        optins={kind: given.get(kind, False) for kind in OPTIN_TYPES}, custom_attributes=clean_attributes)
    if not signup.created:
        return Submission(form=form, signup=signup)
    now = utcnow()
    entry = SignupFormEntry(organization_id=form.organization_id, form_id=form.id, member_id=signup.member.id,
                            consents=[{"key": c["key"], "text": c["text"], "accepted": given[c["key"]],
                                       "at": now.isoformat()} for c in form.consents], created_at=now)
    session.add(entry)
    if form.purpose == OFFER and form.coupon_book_id is not None:
        _give_offer(session, form, signup, entry)
    session.flush()
    return Submission(form=form, signup=signup, entry=entry)


def _give_offer(session: Session, form: SignupForm, signup: SignupOutcome, entry: SignupFormEntry) -> None:
    book = coupons.get_book(session, form.organization_id, form.coupon_book_id)
    actor = system_actor(form.organization_id, f"signup form {form.public_id}")
    try:
        with session.begin_nested():
            coupons.assign_coupons(session, signup.member, book, actor=actor)
        entry.coupon_assigned = True
    except DomainError as refusal:
        entry.coupon_refusal = refusal.code[:50]


def _clean(form: SignupForm, profile: dict[str, Any], custom_attributes: dict[str, Any],
           consents: dict[str, bool]) -> tuple[dict[str, Any], dict[str, Any], dict[str, bool]]:
    """The values to store, or SubmissionInvalid naming every field that is wrong."""
    errors: dict[str, list[str]] = {}
    fields = fields_of(form)
    asked = {f.key for f in fields}
    for prefix, given in (("profile", profile), ("customAttributes", custom_attributes)):
        for name in given:
            if f"{prefix}.{name}" not in asked:
                errors[f"{prefix}.{name}"] = [N_("This form does not ask for this")]
    consent_keys = {c["key"] for c in form.consents}
    for key in consents:
        if key not in consent_keys:
            errors[f"consents.{key}"] = [N_("This form does not ask for this")]
    clean_profile: dict[str, Any] = {}
    clean_attributes: dict[str, Any] = {}
    for f in fields:
        raw = (custom_attributes if f.custom else profile).get(f.name)
        value = raw.strip() if isinstance(raw, str) else raw
        if value is None or value == "":
            if f.required:
                errors[f.key] = [REQUIRED]
            continue
        problem = _value_problem(f, value)
        if problem:
            errors[f.key] = [problem]
        elif f.custom:
            clean_attributes[f.name] = value
        else:
            clean_profile[f.name] = value.lower() if f.type == "email" else (
                value.upper() if f.name == "countryCode" else value)
    given_consents = {c["key"]: consents.get(c["key"]) is True for c in form.consents}
    for consent in form.consents:
        if consent.get("required") and not given_consents[consent["key"]]:
            errors[f"consents.{consent['key']}"] = [N_("Please agree to this to sign up")]
    if errors:
        first = next(iter(errors))
        raise SubmissionInvalid(f"{first}: {errors[first][0]}", errors=errors)
    return clean_profile, clean_attributes, given_consents


def _value_problem(f: FormField, value: Any) -> str | None:
    if not isinstance(value, str):
        return N_("Enter text")
    if len(value) > f.max_length:
        return N_("This is too long")
    if f.type == "email" and not EMAIL_SHAPE.fullmatch(value):
        return N_("Enter an email address like name@example.com")
    if f.type == "date":
        try:
            born = dt.date.fromisoformat(value)
        except ValueError:
            return N_("Enter a date like 1990-05-31")
        if born > dt.date.today():
            return N_("The birth date cannot be in the future")
    if f.type == "tel" and not PHONE_SHAPE.match(value):
        return N_("Enter a phone number like +49 30 1234567")
    if f.name == "countryCode" and not f.custom and not re.fullmatch(r"[A-Za-z]{2}", value):
        return N_("Use the two-letter country code, like DE")
    return None


# --- checking a definition ---------------------------------------------------------------

def _apply(session: Session, form: SignupForm, values: dict[str, Any]) -> None:
    unknown = set(values) - {"name", "purpose", "fields", "consents", "thank_you_text", "redirect_url",
                             "allowed_origins", "coupon_book_id", "active"}
    if unknown:
        raise ValidationFailed(f"Unknown field {sorted(unknown)[0]}", field=_camel(sorted(unknown)[0]))
    if values.get("name") is not None:
        form.name = required_name(values["name"])
    if values.get("purpose") is not None:
        if values["purpose"] not in PURPOSES:
            raise ValidationFailed(f"purpose must be one of {', '.join(PURPOSES)}", field="purpose")
        form.purpose = values["purpose"]
    if values.get("fields") is not None:
        form.fields = _check_fields(values["fields"])
    if values.get("consents") is not None:
        form.consents = _check_consents(values["consents"])
    if values.get("thank_you_text") is not None:
        if len(values["thank_you_text"]) > 2000:
            raise ValidationFailed("thankYouText has at most 2000 characters", field="thankYouText")
        form.thank_you_text = values["thank_you_text"].strip()
    if "redirect_url" in values:
        form.redirect_url = _check_redirect(values["redirect_url"])
    if values.get("allowed_origins") is not None:
        form.allowed_origins = check_origins(values["allowed_origins"])
    if "coupon_book_id" in values:
        form.coupon_book_id = _check_book(session, form.organization_id, values["coupon_book_id"])
    if values.get("active") is not None:
        form.active = bool(values["active"])
    _check_purpose(form)


def _check_purpose(form: SignupForm) -> None:
    if form.purpose == OFFER and form.coupon_book_id is None:
        raise ValidationFailed("An offer form names the coupon book its new members get", field="couponBookId")
    if form.purpose == NEWSLETTER and not any(c["key"] == "email" and c["required"] for c in form.consents):
        raise ValidationFailed("A newsletter form needs a required consent with the key email (the newsletter "
                               "opt-in)", field="consents")


def _keyed(raw: list[dict[str, Any]], *, most: int, what: str, field: str):
    """(number from 1, item, its key stripped) for each item; refuses more than `most` items on `field`."""
    if len(raw) > most:
        raise ValidationFailed(f"At most {most} {what}", field=field)
    for number, item in enumerate(raw, start=1):
        yield number, item, str(item.get("key") or "").strip()


def _check_fields(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result, seen = [], set()
    for number, item, key in _keyed(raw, most=MAX_FIELDS, what="fields", field="fields"):
        source, _, name = key.partition(".")
        label = str(item.get("label") or "").strip()
        if source == "profile" and name in PROFILE_FIELDS:
            label = ""  # the portal's own, translated label
        elif source == "customAttributes" and ATTRIBUTE_KEY.match(name):
            if not label or len(label) > 200:
                raise ValidationFailed(f"Field {number} ({key}) needs a label of 1 to 200 characters", field="fields")
        else:
            raise ValidationFailed(f"Field {number}: the key must be profile.<{'|'.join(PROFILE_FIELDS)}> or "
                                   "customAttributes.<name> (letters, digits, _)", field="fields")
        if key in seen:
            raise ValidationFailed(f"Field {number}: {key} is asked for twice", field="fields")
        seen.add(key)
        if key != EMAIL:
            result.append({"key": key, "label": label, "required": bool(item.get("required"))})
    return result


def _check_consents(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result, seen = [], set()
    for number, item, key in _keyed(raw, most=MAX_CONSENTS, what="consents", field="consents"):
        text = str(item.get("text") or "").strip()
        if not CONSENT_KEY.match(key):
            raise ValidationFailed(f"Consent {number}: the key has 1 to 30 lower-case letters, digits, - or _ "
                                   "(email and sms set those opt-ins)", field="consents")
        if not text or len(text) > 1000:
            raise ValidationFailed(f"Consent {number} ({key}) needs a text of 1 to 1000 characters", field="consents")
        if key in seen:
            raise ValidationFailed(f"Consent {number}: the key {key} is used twice", field="consents")
        seen.add(key)
        result.append({"key": key, "text": text, "required": bool(item.get("required"))})
    return result


def check_origins(raw: list[str]) -> list[str]:
    """Exact origins, normalised (lower case, no default port, no trailing slash), duplicates dropped."""
    if len(raw) > MAX_ORIGINS:
        raise ValidationFailed(f"At most {MAX_ORIGINS} origins", field="allowedOrigins")
    result: list[str] = []
    for number, value in enumerate(raw, start=1):
        text = (value or "").strip().lower().removesuffix("/")
        match = ORIGIN.match(text)
        port = match and match.group(4)
        if not match or (port and not 0 < int(port) < 65536):
            raise ValidationFailed(f"Origin {number} ({value[:100]}) is not an origin like https://shop.example "
                                   "or http://127.0.0.1:8080 (no path, no wildcard)", field="allowedOrigins")
        scheme, host = match.group(1), match.group(2)
        if port and int(port) == {"http": 80, "https": 443}[scheme]:
            port = None
        origin = f"{scheme}://{host}" + (f":{int(port)}" if port else "")
        if origin not in result:
            result.append(origin)
    return result


def _check_redirect(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 1000 or not re.match(r"^https?://[^\s/?#]+[^\s]*$", value, re.IGNORECASE):
        raise ValidationFailed("redirectUrl must be an http(s) address like https://shop.example/thanks",
                               field="redirectUrl")
    return value


def _check_book(session: Session, organization_id: int, book_id: int | None) -> int | None:
    if book_id is None:
        return None
    try:
        return coupons.get_book(session, organization_id, book_id).id
    except NotFound:
        raise ValidationFailed("No coupon book of your organisation has this id", field="couponBookId") from None


def _field(key: str, required: bool, label: str) -> FormField:
    source, _, name = key.partition(".")
    if source == "profile":
        text, kind, longest = PROFILE_FIELDS[name]
        return FormField(key=key, label=text, type=kind, required=required, max_length=longest)
    return FormField(key=key, label=label, type="text", required=required, max_length=CUSTOM_VALUE_LENGTH)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)
