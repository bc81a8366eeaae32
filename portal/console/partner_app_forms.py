"""Console forms for partner apps: shape only (the partners domain checks redirect URLs and scopes)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, URLField
from wtforms.validators import InputRequired, Length, Optional

from ..domain.partners import CONFIDENTIAL, PUBLIC, SCOPES
from .fields import CheckboxesField, Choice

CLIENT_TYPE_CHOICES = [Choice(CONFIDENTIAL, "Confidential: a back end that keeps the client secret"),
                       Choice(PUBLIC, "Public: a browser or mobile app; no secret, PKCE only")]
# Domain field names (API spelling) -> form field names.
PARTNER_APP_FIELDS = {"authRedirectUrl": "auth_redirect_url", "authValidScopes": "auth_valid_scopes",
                      "clientType": "client_type"}


class PartnerAppForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    auth_redirect_url = URLField("Redirect URL", validators=[Optional(), Length(max=2000)])
    auth_valid_scopes = CheckboxesField("Scopes the app may ask members for", choices=[Choice(s, s) for s in SCOPES],
                                   validators=[Optional()])

    def fields(self) -> dict:
        return {"name": self.name.data, "auth_redirect_url": self.auth_redirect_url.data or "",
                "auth_valid_scopes": list(self.auth_valid_scopes.data or [])}

    def fill(self, app) -> "PartnerAppForm":
        self.name.data, self.auth_redirect_url.data = app.name, app.auth_redirect_url
        self.auth_valid_scopes.data = list(app.auth_valid_scopes)
        return self


class NewPartnerAppForm(PartnerAppForm):
    client_type = RadioField("Kind of app", choices=CLIENT_TYPE_CHOICES, default=CONFIDENTIAL,
                             validators=[InputRequired()])
