"""Console forms of a member's page: points adjustment, lock/unlock, manual tier, profile, identifiers,
coupons, missions by hand, erasure, and the member search.
Shape only: what a value means (enough points, a tier of this programme) is the domain's to decide."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateField, EmailField, HiddenField, IntegerField, SelectField, StringField,
                     TextAreaField)
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional, ValidationError

from ..domain.ledger import MAX_AMOUNT
from ..domain.members import ACTIVE, IDENTIFIER_TYPES, LOCKED
from .fields import Choice, SubmitOnceForm, row_choice


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField("Search members", validators=[Optional(), Length(max=200)])


class AdjustPointsForm(SubmitOnceForm):
    amount = IntegerField("Points (+ to add, − to remove)",
                          validators=[InputRequired("Enter a whole number of points"),
                                      NumberRange(-MAX_AMOUNT, MAX_AMOUNT)])
    reason = StringField("Reason", validators=[InputRequired("Give a reason for the adjustment"), Length(max=500)])


class AccountStatusForm(FlaskForm):
    account_status = HiddenField(validators=[InputRequired()])
    reason = StringField("Reason (optional)", validators=[Optional(), Length(max=200)])

    def for_member(self, member) -> "AccountStatusForm":
        """The form proposes the opposite of the member's current status."""
        if not self.account_status.data:
            self.account_status.data = ACTIVE if member.account_status == LOCKED else LOCKED
        return self


class SetTierForm(FlaskForm):
    tier = SelectField("Tier", coerce=str, validate_choice=False,
                       validators=[Optional(), row_choice("Choose a tier from the list")])
    expires_on = DateField("Expires on (optional, end of day UTC)", validators=[Optional()])
    reason = StringField("Reason", validators=[Optional(), Length(max=200)])

    def with_tiers(self, tiers) -> "SetTierForm":
        self.tier.choices = [Choice("", "No tier")] + [Choice(str(t.id), t.name) for t in tiers]
        return self


class ProfileForm(FlaskForm):
    """The member's profile and custom attributes, as staff edit them (every field is sent)."""

    email = EmailField("Email", validators=[Optional(), Email(check_deliverability=False), Length(max=254)])
    given_name = StringField("Given name", validators=[Optional(), Length(max=100)])
    family_name = StringField("Family name", validators=[Optional(), Length(max=100)])
    birth_date = DateField("Birth date", validators=[Optional()])
    phone = StringField("Phone", validators=[Optional(), Length(max=50)])
    street = StringField("Street", validators=[Optional(), Length(max=200)])
    zip_code = StringField("Zip code", validators=[Optional(), Length(max=20)])
    city = StringField("City", validators=[Optional(), Length(max=100)])
    country_code = StringField("Country (two letters)", validators=[Optional(), Length(max=2)])
    custom_attributes = TextAreaField("Custom attributes (one `name = value` a line)",
                                      validators=[Optional(), Length(max=10_000)])
    reason = StringField("Reason (optional)", validators=[Optional(), Length(max=200)])

    PROFILE = {"email": "email", "givenName": "given_name", "familyName": "family_name", "birthDate": "birth_date",
               "phone": "phone", "street": "street", "zipCode": "zip_code", "city": "city",
               "countryCode": "country_code"}

    def fill(self, member, profile: dict) -> "ProfileForm":
        for key, name in self.PROFILE.items():
            self[name].data = member.birth_date if key == "birthDate" else profile.get(key)
        self.custom_attributes.data = "\n".join(f"{k} = {v}" for k, v in sorted(member.custom_attributes.items()))
        return self

    def profile(self) -> dict:
        return {key: (self[name].data.isoformat() if key == "birthDate" and self[name].data else self[name].data or "")
                for key, name in self.PROFILE.items()}

    def attributes(self, current: dict) -> dict:
        """The attributes as written, with those no longer written set to None (removed)."""
        written = {}
        for line in (self.custom_attributes.data or "").splitlines():
            name, _, value = line.partition("=")
            if name.strip():
                written[name.strip()] = value.strip()
        return {**{k: None for k in current if k not in written}, **written}

    def validate_custom_attributes(self, field) -> None:
        for number, line in enumerate((field.data or "").splitlines(), 1):
            if line.strip() and ("=" not in line or not line.partition("=")[0].strip()):
                raise ValidationError(f"Line {number}: write name = value")


ERROR_FIELDS = {f"profile.{key}": name for key, name in ProfileForm.PROFILE.items()}


class AddIdentifierForm(FlaskForm):
    type = SelectField("Type", choices=[Choice(t, t) for t in IDENTIFIER_TYPES])
    code = StringField("Code", validators=[InputRequired("Enter the code"), Length(max=100)])


class RemoveIdentifierForm(FlaskForm):
    identifier = HiddenField(validators=[InputRequired()])


class AssignCouponForm(SubmitOnceForm):
    book = SelectField("Coupon book", coerce=str, validate_choice=False,
                       validators=[InputRequired("Choose a coupon book"), row_choice("Choose a coupon book")])

    def with_books(self, books) -> "AssignCouponForm":
        self.book.choices = [Choice("", "Choose…")] + [Choice(str(b.id), b.name) for b in books]
        return self


class IncrementMissionForm(SubmitOnceForm):
    mission = SelectField("Mission", coerce=str, validate_choice=False,
                          validators=[InputRequired("Choose a mission"), row_choice("Choose a mission")])
    amount = IntegerField("Steps", default=1, validators=[InputRequired("Enter a whole number"), NumberRange(1, 1000)])
    reason = StringField("Reason", validators=[InputRequired("Give a reason"), Length(max=200)])

    def with_missions(self, missions) -> "IncrementMissionForm":
        self.mission.choices = [Choice("", "Choose…")] + [Choice(str(m.id), m.name) for m in missions]
        return self


class EraseForm(FlaskForm):
    confirm = BooleanField("I understand: name, contact details, identifiers and logins are removed for good; "
                           "points history stays, without the person.",
                           validators=[InputRequired("Tick the box to confirm the erasure")])
