"""The consent form: the member's allow or deny, with the CSRF token."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import AnyOf

ALLOW, DENY = "allow", "deny"


class ConsentForm(FlaskForm):
    decision = StringField(validators=[AnyOf((ALLOW, DENY))])
