"""Console forms for signing in and out."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import InputRequired, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=1000)])
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out changes state, so it is a POST."""
