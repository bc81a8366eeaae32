"""Console form for signup forms: shape only.

Custom fields and consents are typed one per line (`key: text`, a leading `*`
marks a required one); whether keys, origins and the coupon book make sense is
`portal.domain.signup_forms`'s to say, and its errors come back onto these
fields through FORM_FIELDS.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField, ValidationError
from wtforms.validators import InputRequired, Length, Optional

from ..domain import signup_forms
from ..domain.signup_forms import PROFILE_FIELDS, SignupForm
from .fields import CheckboxesField
from .fields import Choice

PURPOSE_LABELS = {signup_forms.NEWSLETTER: "Newsletter only",
                  signup_forms.OFFER: "Offer: new members get a coupon of a book",
                  signup_forms.LOYALTY_CARD: "Loyalty card registration"}
PROFILE_CHOICES = [Choice(name, label) for name, (label, _, _) in PROFILE_FIELDS.items() if name != "email"]
# Domain field names (API spelling) -> form field names.
FORM_FIELDS = {"name": "name", "purpose": "purpose", "fields": "custom_fields", "consents": "consents",
               "thankYouText": "thank_you_text", "redirectUrl": "redirect_url", "allowedOrigins": "allowed_origins",
               "couponBookId": "coupon_book_id"}


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _keyed(text: str | None) -> list[tuple[str, str, bool]]:
    """`*key: text` lines -> (key, text, required)."""
    found = []
    for line in _lines(text):
        required = line.startswith("*")
        key, colon, rest = line.lstrip("*").partition(":")
        found.append((key.strip(), rest.strip(), required))
    return found


def _keyed_shape(form, field) -> None:
    for number, line in enumerate(_lines(field.data), start=1):
        if ":" not in line:
            raise ValidationError(f"Line {number}: write key: text")


class SignupFormForm(FlaskForm):
    name = StringField("Heading (shown on the form)", validators=[InputRequired(), Length(max=200)])
    purpose = SelectField("Purpose", choices=[Choice(k, v) for k, v in PURPOSE_LABELS.items()])
    coupon_book_id = SelectField("Coupon book (offer forms)", default="", validate_choice=False)
    profile_fields = CheckboxesField("Ask for (the email is always asked)", choices=PROFILE_CHOICES,
                                     validators=[Optional()])
    required_fields = CheckboxesField("Required", choices=PROFILE_CHOICES, validators=[Optional()])
    custom_fields = TextAreaField("Custom attributes, one per line: key: label", validators=[
        Optional(), Length(max=5000), _keyed_shape])
    consents = TextAreaField("Consents, one per line: key: text", validators=[
        Optional(), Length(max=12000), _keyed_shape])
    thank_you_text = TextAreaField("Thank-you text", validators=[Optional(), Length(max=2000)])
    redirect_url = StringField("Or send the partner page to (optional)", validators=[Optional(), Length(max=1000)])
    allowed_origins = TextAreaField("Partner sites allowed to show the form, one origin per line", validators=[
        Optional(), Length(max=8000)])
    active = BooleanField("Active (shown on partner sites)", default=True)

    def with_books(self, books) -> "SignupFormForm":
        self.coupon_book_id.choices = [Choice("", "—")] + [Choice(str(b.id), f"{b.name} ({b.publishing_status})")
                                                            for b in books]
        return self

    def fields(self) -> dict:
        """The domain's arguments."""
        required = set(self.required_fields.data or [])
        asked = [{"key": f"profile.{name}", "required": name in required} for name in self.profile_fields.data or []]
        asked += [{"key": f"customAttributes.{key}", "label": label, "required": needed}
                  for key, label, needed in _keyed(self.custom_fields.data)]
        book = self.coupon_book_id.data
        return {"name": self.name.data, "purpose": self.purpose.data, "fields": asked,
                "consents": [{"key": key, "text": text, "required": needed}
                             for key, text, needed in _keyed(self.consents.data)],
                "thank_you_text": self.thank_you_text.data or "", "redirect_url": self.redirect_url.data or None,
                "allowed_origins": _lines(self.allowed_origins.data),
                "coupon_book_id": int(book) if book and book.isdigit() else None, "active": self.active.data}

    def fill(self, form: SignupForm) -> None:
        self.name.data, self.purpose.data, self.active.data = form.name, form.purpose, form.active
        self.coupon_book_id.data = str(form.coupon_book_id or "")
        profile = [f for f in form.fields if f["key"].startswith("profile.")]
        self.profile_fields.data = [f["key"].partition(".")[2] for f in profile]
        self.required_fields.data = [f["key"].partition(".")[2] for f in profile if f["required"]]
        self.custom_fields.data = "\n".join(
            f"{'*' if f['required'] else ''}{f['key'].partition('.')[2]}: {f['label']}" for f in form.fields
            if f["key"].startswith("customAttributes."))
        self.consents.data = "\n".join(f"{'*' if c['required'] else ''}{c['key']}: {c['text']}" for c in form.consents)
        self.thank_you_text.data = form.thank_you_text
        self.redirect_url.data = form.redirect_url or ""
        self.allowed_origins.data = "\n".join(form.allowed_origins)
