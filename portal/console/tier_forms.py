"""Console form for a tier of the default programme: shape only (the domain refuses duplicates)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from ..domain.ledger import MAX_AMOUNT


class TierForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=100)])
    # The domain says what a threshold may be (0 or more, unique); the form only bounds the number.
    min_points = IntegerField("Tier points to reach it", validators=[InputRequired("Give a whole number of points"),
                                                                     NumberRange(max=MAX_AMOUNT)])
    color = StringField("Colour", validators=[Optional(), Length(max=20),
                                              Regexp(r"^#[0-9A-Fa-f]{6}$", message="A colour like #c9a227")])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])

    DOMAIN_FIELDS = {"minPoints": "min_points", "name": "name"}

    def fields(self) -> dict:
        return {"name": self.name.data.strip(), "min_points": self.min_points.data,
                "color": (self.color.data or "").strip(), "description": (self.description.data or "").strip()}

    def fill(self, tier) -> "TierForm":
        self.name.data, self.min_points.data = tier.name, tier.min_points
        self.color.data, self.description.data = tier.color, tier.description
        return self
