"""The reports' date-range picker: a preset (last 7, 30 or 90 days, this year) or two days, and the interval.

A GET form (bookmarkable, no CSRF): the range it names is built and checked by
portal/domain/reports/, whose errors come back onto these fields.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from ..domain.reports import DAY, INTERVALS, PRESETS
from .fields import Choice

CUSTOM = "custom"
INTERVAL_LABELS = {"day": "Day", "week": "Week", "month": "Month"}
# Domain field names (the API's) -> this form's fields.
FIELDS = {"sinceFrom": "start", "sinceTo": "end", "interval": "interval", "preset": "preset"}


class RangeForm(FlaskForm):
    class Meta:
        csrf = False  # a GET that changes nothing

    preset = SelectField("Range", default="30d",
                         choices=[Choice(key, label) for key, label in PRESETS.items()] + [Choice(CUSTOM, "Custom")])
    start = DateField("From", validators=[Optional()])
    end = DateField("To", validators=[Optional()])
    interval = SelectField("Per", default=DAY, choices=[Choice(i, INTERVAL_LABELS[i]) for i in INTERVALS])

    def custom_days(self):
        """The two days of a custom range, or None (with an error on the form) when one is missing."""
        if not (self.start.data and self.end.data):
            for field in (self.start, self.end):
                if not field.data and not field.errors:
                    field.errors = [*field.errors, "Enter a day (or choose a preset range)"]
            return None
        return self.start.data, self.end.data
