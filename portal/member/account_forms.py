"""Member portal account forms: shape only (required, length, email format). Meaning
(password strength, taken emails, consents) is checked in portal/domain/self_service.py."""
from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import AnyOf, DataRequired, Email, EqualTo, Length, Optional, Regexp, ValidationError

try:
    from wtforms import SelectChoice
except ImportError:  # wtforms < 3.3 takes (value, label) pairs
    def SelectChoice(value, label, render_kw=None):  # noqa: N802
        return value, label

from ..domain import self_service
from ..domain.errors import ValidationFailed
from ..i18n import LANGUAGES

REQUIRED = _l("This field is required")
EMAIL = _l("Enter an email address like name@example.com")
PASSWORD_HINT = _l("At least 10 characters. Avoid your name, your email address and common passwords.")


def strong_password(email_field: str, name_fields: tuple[str, ...]):
    """Run the domain's password rules while validating, so that every error shows at once."""

    def check(form, field):
        if not field.data:
            return
        try:
            self_service.check_password_strength(field.data, email=getattr(form, email_field).data,
                                             names=tuple(getattr(form, name).data or "" for name in name_fields))
        except ValidationFailed as error:
            raise ValidationError(gettext(error.message)) from None

    return check


class SignupForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(REQUIRED), Email(EMAIL), Length(max=254)],
                       render_kw={"autocomplete": "email"})
    password = PasswordField(_l("Password"), validators=[
        DataRequired(REQUIRED), strong_password("email", ("given_name", "family_name"))],
        description=PASSWORD_HINT, render_kw={"autocomplete": "new-password"})
    given_name = StringField(_l("Given name"), validators=[DataRequired(REQUIRED), Length(max=100)],
                             render_kw={"autocomplete": "given-name"})
    family_name = StringField(_l("Family name"), validators=[DataRequired(REQUIRED), Length(max=100)],
                              render_kw={"autocomplete": "family-name"})
    birth_date = DateField(_l("Birth date (optional)"), validators=[Optional()],
                           render_kw={"autocomplete": "bday"})
    accept_terms = BooleanField(_l("I accept the terms and conditions of the loyalty programme"),
                                validators=[DataRequired(_l("Please accept the terms to join"))])
    optin_email = BooleanField(_l("Send me offers by email"))
    optin_sms = BooleanField(_l("Send me offers by text message (SMS)"))
    referral_code = StringField(_l("Referral code (optional)"), validators=[Optional(), Length(max=40)],
                                render_kw={"autocomplete": "off"})


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(REQUIRED), Length(max=254)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED), Length(max=1000)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(REQUIRED), Email(EMAIL), Length(max=254)],
                       render_kw={"autocomplete": "email"})


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(REQUIRED)], description=PASSWORD_HINT,
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(REQUIRED), EqualTo("password", _l("The passwords do not match"))],
                            render_kw={"autocomplete": "new-password"})


class ConfirmForm(FlaskForm):
    """Only the CSRF token: a button that confirms a one-time link or logs out."""


class ProfileForm(FlaskForm):
    given_name = StringField(_l("Given name"), validators=[DataRequired(REQUIRED), Length(max=100)],
                             render_kw={"autocomplete": "given-name"})
    family_name = StringField(_l("Family name"), validators=[DataRequired(REQUIRED), Length(max=100)],
                              render_kw={"autocomplete": "family-name"})
    birth_date = DateField(_l("Birth date (optional)"), validators=[Optional()], render_kw={"autocomplete": "bday"})
    phone = StringField(_l("Mobile phone (optional)"), validators=[
        Optional(), Length(max=50), Regexp(r"^\+?[0-9 ()/-]{4,}$", message=_l("Enter a phone number like +49 30 1234567"))],
        render_kw={"autocomplete": "tel", "inputmode": "tel"})
    street = StringField(_l("Street and number (optional)"), validators=[Optional(), Length(max=200)],
                         render_kw={"autocomplete": "street-address"})
    zip_code = StringField(_l("Postcode (optional)"), validators=[Optional(), Length(max=20)],
                           render_kw={"autocomplete": "postal-code"})
    city = StringField(_l("City (optional)"), validators=[Optional(), Length(max=100)],
                       render_kw={"autocomplete": "address-level2"})
    country_code = StringField(_l("Country code (optional)"), validators=[
        Optional(), Regexp(r"^[A-Za-z]{2}$", message=_l("Use the two-letter country code, like DE"))],
        description=_l("Two letters, like DE or AT"), render_kw={"autocomplete": "country", "maxlength": 2})
    optin_email = BooleanField(_l("Send me offers by email"))
    optin_sms = BooleanField(_l("Send me offers by text message (SMS)"))
    locale = SelectField(_l("Language"), choices=[SelectChoice(code, name, render_kw={"lang": code}) for code, name in LANGUAGES.items()], validators=[AnyOf(list(LANGUAGES))])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(REQUIRED)],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("New password"), validators=[DataRequired(REQUIRED)],
                                 description=PASSWORD_HINT, render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Repeat the new password"), validators=[
        DataRequired(REQUIRED), EqualTo("new_password", _l("The passwords do not match"))],
        render_kw={"autocomplete": "new-password"})


class DeleteAccountForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=[DataRequired(REQUIRED)],
                             render_kw={"autocomplete": "current-password"})
    confirm = BooleanField(_l("I understand that my account, my points and my card cannot be restored"),
                           validators=[DataRequired(_l("Please confirm that you want to delete your account"))])


class LanguageForm(FlaskForm):
    lang = StringField(validators=[AnyOf(list(LANGUAGES))])
    next = HiddenField()
