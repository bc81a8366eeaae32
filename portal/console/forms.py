"""Console forms: shape only (required, length, e-mail format, whole numbers).
What a value means (enough points, grantable role, unique e-mail) is the
domain's to decide; its errors come back onto these fields."""
from __future__ import annotations

import uuid

from flask_wtf import FlaskForm
from wtforms import (DateField, EmailField, HiddenField, IntegerField, PasswordField, SelectField,
                     SelectMultipleField, StringField)
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..domain.ledger import MAX_AMOUNT
from ..domain.members import ACTIVE, LOCKED
from ..domain.staff import MIN_PASSWORD_LENGTH, ROLES

try:  # wtforms 3.3 deprecates (value, label) tuples
    from wtforms.fields.choices import SelectChoice as _Choice
except ImportError:  # pragma: no cover - wtforms < 3.3
    def _Choice(value, label):
        return (value, label)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=1000)])
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out changes state, so it is a POST."""


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField("Search members", validators=[Optional(), Length(max=200)])


class SubmitOnceForm(FlaskForm):
    """A form whose effect must happen once: each rendering carries a fresh key,
    so a double click or a reload of the POST replays instead of repeating."""

    key = HiddenField(default=lambda: uuid.uuid4().hex, validators=[Length(max=64)])


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
    tier = SelectField("Tier", coerce=str, validate_choice=False)
    expires_on = DateField("Expires on (optional, end of day UTC)", validators=[Optional()])
    reason = StringField("Reason", validators=[Optional(), Length(max=200)])

    def with_tiers(self, tiers) -> "SetTierForm":
        self.tier.choices = [_Choice("", "No tier")] + [_Choice(str(t.id), t.name) for t in tiers]
        return self


class RolesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _role_choices():
    return [_Choice(role, role) for role in ROLES]


class StaffUserForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Email(check_deliverability=False), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    password = PasswordField(f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
                             validators=[InputRequired(), Length(max=1000)])
    roles = RolesField("Roles", choices=_role_choices(), validators=[InputRequired("Choose at least one role")])


class ApiKeyForm(SubmitOnceForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    roles = RolesField("Roles", choices=_role_choices(), validators=[InputRequired("Choose at least one role")])


class RevokeForm(FlaskForm):
    """Only the CSRF token."""
