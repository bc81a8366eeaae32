"""Console forms for missions, referral programmes and event types: shape only.

The bounds mirror the JSON API's schemas (portal/api/missions.py, referrals.py,
events.py); what a value means (a known event type, a matcher that parses, a
slug that is free) is the domain's to decide, and its errors come back onto
these fields through the domain-to-form name maps below.
"""
from __future__ import annotations

import datetime as dt

from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateTimeLocalField, HiddenField, IntegerField, SelectField, StringField,
                     TextAreaField, ValidationError)
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, Optional

from ..domain import earning, custom_events, missions, referrals
from .campaign_forms import EVENT_LABELS, csv_list
from .forms import _Choice

UTC = dt.timezone.utc
MAX_CAP = 1_000_000_000
MAX_REPETITIONS = 1_000_000
MAX_TAGS, MAX_TAG_LENGTH = 50, 100


def _inverse(api_names: dict[str, str]) -> dict[str, str]:
    """The domain names fields as the API spells them (goalCount); the forms use the Python names."""
    return {api: python for python, api in api_names.items()}


MISSION_FIELDS = _inverse(missions.API_NAMES)
PROGRAM_FIELDS = _inverse(referrals.API_NAMES)
CODE_FIELDS = {"memberId": "member", "codes": "code", "code": "code"}

KIND_LABELS = {missions.MISSION: "Mission", missions.STAMPCARD: "Stamp card"}
PERIOD_LABELS = {missions.NO_PERIOD: "No period", missions.DAY: "Day", missions.WEEK: "Week (ISO)",
                 missions.MONTH: "Month"}


def event_choices(custom_types, current: str | None = None) -> dict[str, list]:
    """Built-in events and the organisation's active custom types, grouped; `current` stays choosable
    (an edited mission may listen to a type switched off since: the domain then says so on the field)."""
    builtin = [_Choice(name, f"{EVENT_LABELS[name]} ({name})" if name in EVENT_LABELS else name)
               for name in custom_events.BUILT_IN_EVENT_TYPES]
    custom = [_Choice(t.name, t.name) for t in custom_types if t.active]
    known = {c[0] if isinstance(c, tuple) else c.value for c in builtin + custom}
    if current and current not in known:
        custom.append(_Choice(current, f"{current} (inactive or unknown)"))
    groups = {"Built-in events": builtin}
    if custom:
        groups["Custom event types"] = custom
    return groups


def account_choices(accounts) -> list:
    return [_Choice("", "Main points account")] + [_Choice(str(a.id), a.name) for a in accounts]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=UTC) if value else None


def _local(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(UTC).replace(tzinfo=None) if value else None


def _same(current, wanted) -> bool:
    """Equal as the form can show it: times to the minute (an API-set second is not a change)."""
    if isinstance(current, dt.datetime) and isinstance(wanted, dt.datetime):
        return current.astimezone(UTC).replace(second=0, microsecond=0) == wanted
    return current == wanted


def _tags_shape(form, field) -> None:
    tags = csv_list(field.data)
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"At most {MAX_TAGS} tags")
    if any(len(tag) > MAX_TAG_LENGTH for tag in tags):
        raise ValidationError(f"A tag has at most {MAX_TAG_LENGTH} characters")


class MissionForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    code = StringField("Code (optional; generated when empty)", validators=[Optional(), Length(max=100)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    kind = SelectField("Shown as", default=missions.MISSION,
                       choices=[_Choice(k, label) for k, label in KIND_LABELS.items()])
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
                                    choices=[_Choice(k, label) for k, label in PERIOD_LABELS.items()])
    period_limit = IntegerField("Completions per member per period (empty: unlimited)", validators=[
        Optional(), NumberRange(1, MAX_REPETITIONS)])
    active = BooleanField("Active", default=True)
    valid_from = DateTimeLocalField("Valid from (UTC)", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    valid_to = DateTimeLocalField("Valid until (UTC)", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    tags = StringField("Tags (comma-separated)", validators=[Length(max=6000), _tags_shape])

    def with_choices(self, custom_types, accounts, current_event: str | None = None) -> "MissionForm":
        self.event_type.choices = event_choices(custom_types, current_event or self.event_type.data)
        self.ledger_account_id.choices = account_choices(accounts)
        return self

    def fields(self) -> dict:
        """The domain's keyword arguments, every field given."""
        return {
            "name": self.name.data.strip(), "code": (self.code.data or "").strip() or None,
            "description": (self.description.data or "").strip(), "kind": self.kind.data,
            "event_type": self.event_type.data, "matcher": (self.matcher.data or "").strip() or None,
            "goal_count": self.goal_count.data, "points_on_completion": self.points_on_completion.data or 0,
            "ledger_account_id": int(self.ledger_account_id.data) if self.ledger_account_id.data else None,
            "max_repetitions": self.max_repetitions.data, "repetition_period": self.repetition_period.data,
            "period_limit": self.period_limit.data, "active": bool(self.active.data),
            "valid_from": _utc(self.valid_from.data), "valid_to": _utc(self.valid_to.data),
            "tags": csv_list(self.tags.data)}

    def changes(self, mission: missions.Mission) -> dict:
        """Only what differs from the mission, like an API PATCH: an unchanged event type that was
        switched off since does not block other edits, and the audit names what really changed."""
        wanted = self.fields()
        if wanted["code"] is None:
            wanted["code"] = mission.code  # an emptied code keeps the current one
        return {name: value for name, value in wanted.items() if not _same(getattr(mission, name), value)}

    def fill(self, mission: missions.Mission) -> "MissionForm":
        for name in ("name", "code", "description", "kind", "event_type", "matcher", "goal_count",
                     "points_on_completion", "max_repetitions", "repetition_period", "period_limit", "active"):
            getattr(self, name).data = getattr(mission, name)
        self.ledger_account_id.data = str(mission.ledger_account_id or "")
        self.valid_from.data, self.valid_to.data = _local(mission.valid_from), _local(mission.valid_to)
        self.tags.data = ", ".join(mission.tags or [])
        return self


class ProgramForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    event_type = SelectField("The friend qualifies on", validate_choice=False, default=earning.PURCHASE_CONFIRMED,
                             validators=[InputRequired(), Length(min=3, max=100)])
    referrer_points = IntegerField("Points for the referrer", default=0, validators=[
        InputRequired("Give a whole number (0 for none)"), NumberRange(0, referrals.MAX_POINTS)])
    referred_points = IntegerField("Points for the friend", default=0, validators=[
        InputRequired("Give a whole number (0 for none)"), NumberRange(0, referrals.MAX_POINTS)])
    ledger_account_id = SelectField("Paid into", coerce=str, validate_choice=False)
    max_referrals_per_member = IntegerField("Rewarded referrals per member (empty: no cap)", validators=[
        Optional(), NumberRange(1, MAX_CAP)])
    max_uses_per_code = IntegerField("Rewarded referrals per code (empty: no cap)", validators=[
        Optional(), NumberRange(1, MAX_CAP)])
    active = BooleanField("Active", default=True)
    valid_from = DateTimeLocalField("Valid from (UTC)", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    valid_to = DateTimeLocalField("Valid until (UTC)", format="%Y-%m-%dT%H:%M", validators=[Optional()])

    def with_choices(self, custom_types, accounts, current_event: str | None = None) -> "ProgramForm":
        self.event_type.choices = event_choices(custom_types, current_event or self.event_type.data)
        self.ledger_account_id.choices = account_choices(accounts)
        return self

    def fields(self) -> dict:
        return {
            "name": self.name.data.strip(), "description": (self.description.data or "").strip(),
            "event_type": self.event_type.data, "referrer_points": self.referrer_points.data,
            "referred_points": self.referred_points.data,
            "ledger_account_id": int(self.ledger_account_id.data) if self.ledger_account_id.data else None,
            "max_referrals_per_member": self.max_referrals_per_member.data,
            "max_uses_per_code": self.max_uses_per_code.data, "active": bool(self.active.data),
            "valid_from": _utc(self.valid_from.data), "valid_to": _utc(self.valid_to.data)}

    def changes(self, program: referrals.ReferralProgram) -> dict:
        """Only what differs from the programme (see MissionForm.changes)."""
        return {name: value for name, value in self.fields().items() if not _same(getattr(program, name), value)}

    def fill(self, program: referrals.ReferralProgram) -> "ProgramForm":
        for name in ("name", "description", "event_type", "referrer_points", "referred_points",
                     "max_referrals_per_member", "max_uses_per_code", "active"):
            getattr(self, name).data = getattr(program, name)
        self.ledger_account_id.data = str(program.ledger_account_id or "")
        self.valid_from.data, self.valid_to.data = _local(program.valid_from), _local(program.valid_to)
        return self


class ReferralCodeForm(FlaskForm):
    member = StringField("Member (card code or member id)", validators=[InputRequired(), Length(max=100)])
    code = StringField("Code (optional; generated when empty)", validators=[
        Optional(), Length(min=4, max=40)])


class EventTypeForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(min=3, max=100)])
    description = StringField("Description", validators=[Optional(), Length(max=500)])


class ActiveForm(FlaskForm):
    """Switch something on or off: one POST with the wanted state."""

    active = HiddenField(validators=[InputRequired(), AnyOf(["on", "off"])])

    @property
    def wanted(self) -> bool:
        return self.active.data == "on"
