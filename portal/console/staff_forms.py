"""Console forms for staff users and API keys: shape only (the domain decides which roles may be granted)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length, Optional

from ..domain.staff import MIN_PASSWORD_LENGTH, ROLES
from .fields import CheckboxesField, Choice, SubmitOnceForm


def _role_choices():
    return [Choice(role, role) for role in ROLES]


class StaffUserForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Email(check_deliverability=False), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    password = PasswordField(f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
                             validators=[InputRequired(), Length(max=1000)])
    roles = CheckboxesField("Roles", choices=_role_choices(), validators=[InputRequired("Choose at least one role")])


class ApiKeyForm(SubmitOnceForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    roles = CheckboxesField("Roles", choices=_role_choices(), validators=[InputRequired("Choose at least one role")])


class StaffRolesForm(FlaskForm):
    roles = CheckboxesField("Roles", choices=_role_choices(), validators=[InputRequired("Choose at least one role")])


class PasswordResetForm(FlaskForm):
    """A new password from a reset link, typed twice."""

    password = PasswordField(f"New password (at least {MIN_PASSWORD_LENGTH} characters)",
                             validators=[InputRequired(), Length(max=1000)])
    confirm = PasswordField("The same again", validators=[InputRequired(), EqualTo("password", "The two differ")])
