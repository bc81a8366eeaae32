"""Console form for custom event types: shape only (the domain checks the name's characters and that it is free)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length, Optional


class EventTypeForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(min=3, max=100)])
    description = StringField("Description", validators=[Optional(), Length(max=500)])
