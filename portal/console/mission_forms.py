"""Console form for missions and stamp cards: shape only.

The bounds mirror the JSON API's schemas; what a value means (a known event
type, a matcher that parses, a code that is free) is the domain's to decide, and
its errors come back onto these fields through MISSION_FIELDS.
"""
from __future__ import annotations

from wtforms import IntegerField, SelectField, StringField, TextAreaField, ValidationError
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from ..domain import earning, missions
from .fields import Choice, EngagementForm, csv_list, form_names

MAX_REPETITIONS = 1_000_000
MAX_TAGS, MAX_TAG_LENGTH = 50, 100

MISSION_FIELDS = form_names(missions.API_NAMES)
KIND_LABELS = {missions.MISSION: "Mission", missions.STAMPCARD: "Stamp card"}
PERIOD_LABELS = {missions.NO_PERIOD: "No period", missions.DAY: "Day", missions.WEEK: "Week (ISO)",
                 missions.MONTH: "Month"}


def _tags_shape(form, field) -> None:
    tags = csv_list(field.data)
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"At most {MAX_TAGS} tags")
    if any(len(tag) > MAX_TAG_LENGTH for tag in tags):
        raise ValidationError(f"A tag has at most {MAX_TAG_LENGTH} characters")


class MissionForm(EngagementForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    code = StringField("Code (optional; generated when empty)", validators=[Optional(), Length(max=100)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    kind = SelectField("Shown as", default=missions.MISSION,
                       choices=[Choice(k, label) for k, label in KIND_LABELS.items()])
    event_type = SelectField("Counts this event", validate_choice=False, default=earning.PURCHASE_CONFIRMED,
                             validators=[InputRequired(), Length(min=3, max=100)])
    matcher = TextAreaField("Only events matching (optional rule)", validators=[Optional(), Length(max=4000)])
    goal_count = IntegerField("Goal (events to complete it)", validators=[
        InputRequired("Give a whole number"), NumberRange(1, missions.MAX_INCREMENT)])
    points_on_completion = IntegerField("Points on completion", default=0, validators=[
        Optional(), NumberRange(0, missions.MAX_POINTS)])
    ledger_account_id = SelectField("Paid into", coerce=str, validate_choice=False)
    max_repetitions = IntegerField("Completions per member overall (empty: unlimited)", validators=[
        Optional(), NumberRange(1, MAX_REPETITIONS)])
    repetition_period = SelectField("Repetition period", default=missions.NO_PERIOD,
                                    choices=[Choice(k, label) for k, label in PERIOD_LABELS.items()])
    period_limit = IntegerField("Completions per member per period (empty: unlimited)", validators=[
        Optional(), NumberRange(1, MAX_REPETITIONS)])
    tags = StringField("Tags (comma-separated)", validators=[Length(max=6000), _tags_shape])

    def fields(self) -> dict:
        """The domain's keyword arguments, every field given."""
        return {
            "name": self.name.data.strip(), "code": (self.code.data or "").strip() or None,
            "description": (self.description.data or "").strip(), "kind": self.kind.data,
            "event_type": self.event_type.data, "matcher": (self.matcher.data or "").strip() or None,
            "goal_count": self.goal_count.data, "points_on_completion": self.points_on_completion.data or 0,
            "ledger_account_id": int(self.ledger_account_id.data) if self.ledger_account_id.data else None,
            "max_repetitions": self.max_repetitions.data, "repetition_period": self.repetition_period.data,
            "period_limit": self.period_limit.data, "active": bool(self.active.data), **self.window(),
            "tags": csv_list(self.tags.data)}

    def changes(self, mission: missions.Mission) -> dict:
        changed = super().changes(mission)
        if "code" in changed and changed["code"] is None:
            del changed["code"]  # an emptied code keeps the current one
        return changed

    def fill(self, mission: missions.Mission) -> "MissionForm":
        for name in ("name", "code", "description", "kind", "event_type", "matcher", "goal_count",
                     "points_on_completion", "max_repetitions", "repetition_period", "period_limit", "active"):
            getattr(self, name).data = getattr(mission, name)
        self.ledger_account_id.data = str(mission.ledger_account_id or "")
        self.fill_window(mission)
        self.tags.data = ", ".join(mission.tags or [])
        return self
