"""Console forms for campaigns and their actions: shape only; the domain decides meaning."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from ..domain.context import WEEKDAYS
from .fields import EVENT_LABELS, CheckboxesField, Choice, SwitchableWindowForm, csv_list


class CampaignForm(SwitchableWindowForm):
    code = StringField("Code", validators=[InputRequired(), Length(max=64),
                                           Regexp(r"^[A-Za-z0-9_.-]+$", message="Letters, digits, - _ . only")])
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    event_type = SelectField("Listens to", validate_choice=False)
    custom_event = StringField("…or a custom event type", validators=[Optional(), Length(max=100)])
    timezone = StringField("Timezone for days and months", default="UTC", validators=[InputRequired(),
                                                                                      Length(max=64)])
    days_of_week = CheckboxesField("Days of week (none = every day)",
                                   choices=[Choice(d, d.capitalize()) for d in WEEKDAYS])
    location_codes = StringField("Locations (comma-separated codes; empty = all)", validators=[Length(max=4000)])
    tier_ids = CheckboxesField("Tiers (none = all)", coerce=int, validate_choice=False)
    audience_ids = CheckboxesField("Audiences (none = everyone)", coerce=int, validate_choice=False)
    min_spend = DecimalField("Minimum spend", places=2, validators=[Optional(), NumberRange(min=0)])
    monthly_points_cap = IntegerField("Monthly points cap per member", validators=[Optional(), NumberRange(min=1)])
    tags = StringField("Tags (comma-separated)", validators=[Length(max=1000)])

    def with_choices(self, tiers, audiences) -> "CampaignForm":
        self.event_type.choices = [Choice(k, v) for k, v in EVENT_LABELS.items()] + [Choice("custom", "Custom…")]
        self.tier_ids.choices = [Choice(t.id, t.name) for t in tiers]
        self.audience_ids.choices = [Choice(a.id, a.name) for a in audiences]
        return self

    def chosen_event(self) -> str:
        return (self.custom_event.data or "").strip() if self.event_type.data == "custom" else self.event_type.data

    def fields(self) -> dict:
        """The domain's keyword arguments (code and name aside)."""
        return {
            "description": self.description.data or "", "event_type": self.chosen_event(),
            "active": bool(self.active.data), **self.window(),
            "timezone": self.timezone.data.strip(), "days_of_week": list(self.days_of_week.data or []),
            "location_codes": csv_list(self.location_codes.data), "tier_ids": list(self.tier_ids.data or []),
            "audience_ids": list(self.audience_ids.data or []), "min_spend": self.min_spend.data,
            "monthly_points_cap": self.monthly_points_cap.data, "tags": csv_list(self.tags.data)}

    def fill(self, campaign) -> "CampaignForm":
        self.code.data, self.name.data, self.description.data = campaign.code, campaign.name, campaign.description
        builtin = campaign.event_type in EVENT_LABELS
        self.event_type.data = campaign.event_type if builtin else "custom"
        self.custom_event.data = "" if builtin else campaign.event_type
        self.active.data = campaign.active
        self.fill_window(campaign)
        self.timezone.data, self.days_of_week.data = campaign.timezone, campaign.days_of_week
        self.location_codes.data = ", ".join(campaign.location_codes or [])
        self.tier_ids.data, self.audience_ids.data = campaign.tier_ids, campaign.audience_ids
        self.min_spend.data, self.monthly_points_cap.data = campaign.min_spend, campaign.monthly_points_cap
        self.tags.data = ", ".join(campaign.tags or [])
        return self


EFFECT_CHOICES = [("award_points", "Award points"), ("assign_coupon", "Assign a coupon"),
                  ("set_tier", "Set a tier"), ("increment_mission", "Count toward a mission"),
                  ("emit_event", "Emit an event")]


class ActionForm(FlaskForm):
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    rules = TextAreaField("Rules (one per line; all must hold; empty = always)", validators=[Length(max=20000)])
    effect_type = SelectField("Effect", default="award_points",
                              choices=[Choice(v, label) for v, label in EFFECT_CHOICES])
    mode = SelectField("Award", default="fixed", choices=[Choice("fixed", "Fixed points"),
                                         Choice("per_currency", "Points per amount spent"),
                                         Choice("multiplier", "Multiply this campaign's award")])
    points = IntegerField("Points", validators=[Optional(), NumberRange(min=1)])
    per = DecimalField("…per this amount", places=2, default=1, validators=[Optional()])
    rounding = SelectField("Rounding", default="down", choices=[Choice("down", "Down"), Choice("nearest", "Nearest"),
                                                Choice("up", "Up")])
    categories = StringField("Only these product categories (comma-separated)", validators=[Length(max=1000)])
    multiplier = DecimalField("Multiplier", places=2, validators=[Optional()])
    tier_points = BooleanField("Also counts as tier points", default=True)
    coupon_book_id = IntegerField("Coupon book id", validators=[Optional()])
    tier_id = SelectField("Tier", coerce=str, validate_choice=False)
    expires_in_days = IntegerField("Tier expires after (days)", validators=[Optional(), NumberRange(min=1)])
    mission_id = IntegerField("Mission id", validators=[Optional()])
    amount = IntegerField("Count", default=1, validators=[Optional(), NumberRange(min=1)])
    event_name = StringField("Event type to emit", validators=[Optional(), Length(max=100)])
    abort_on_false = BooleanField("Stop the campaign when these rules are false")
    abort_on_error = BooleanField("Stop the campaign when a rule cannot be evaluated", default=True)

    def with_tiers(self, tiers) -> "ActionForm":
        self.tier_id.choices = [Choice(str(t.id), t.name) for t in tiers]
        return self

    def rules_text(self) -> list[str]:
        return [line.strip() for line in (self.rules.data or "").splitlines() if line.strip()]

    def effect(self) -> dict:
        """The effect as the domain takes it; the domain checks what is missing."""
        kind = self.effect_type.data
        if kind == "award_points":
            effect = {"type": kind, "mode": self.mode.data, "tierPoints": bool(self.tier_points.data)}
            if self.mode.data in ("fixed", "per_currency"):
                effect["points"] = self.points.data
            if self.mode.data == "per_currency":
                effect.update(per=str(self.per.data or 1), rounding=self.rounding.data,
                              categories=csv_list(self.categories.data))
            if self.mode.data == "multiplier":
                effect["multiplier"] = str(self.multiplier.data) if self.multiplier.data is not None else None
            return effect
        if kind == "assign_coupon":
            return {"type": kind, "couponBookId": self.coupon_book_id.data}
        if kind == "set_tier":
            return {"type": kind, "tierId": int(self.tier_id.data) if self.tier_id.data else None,
                    "expiresInDays": self.expires_in_days.data}
        if kind == "increment_mission":
            return {"type": kind, "missionId": self.mission_id.data, "amount": self.amount.data or 1}
        return {"type": kind, "eventType": self.event_name.data}

    # The domain names effect fields like `effects[0].points`; these are the form's names for them.
    EFFECT_FIELDS = {"type": "effect_type", "mode": "mode", "points": "points", "per": "per",
                     "rounding": "rounding", "multiplier": "multiplier", "couponBookId": "coupon_book_id",
                     "tierId": "tier_id", "expiresInDays": "expires_in_days", "missionId": "mission_id",
                     "amount": "amount", "eventType": "event_name", "ledgerAccountId": "effect_type"}

    def place_error(self, error) -> tuple[str | None, str]:
        """Where a domain error on `rules[1]` or `effects[0].points` shows: a rule's on the rules box with
        its line there ("Line 2: ..."), an effect's on the field that sets it."""
        name = error.field or ""
        if name.startswith("rules["):
            return "rules", f"Line {int(name[6:name.index(']')]) + 1}: {error.message}"
        if name.startswith("effects["):
            return self.EFFECT_FIELDS.get(name.rsplit(".", 1)[-1], "effect_type"), error.message
        return name, error.message


class ActionStatusForm(FlaskForm):
    status = SelectField("Status", choices=[Choice("running", "Running"), Choice("draft", "Draft"),
                                            Choice("disabled", "Disabled")])


class SimulateForm(FlaskForm):
    member = StringField("Member (card code or member id)", validators=[InputRequired(), Length(max=100)])
    total = DecimalField("Order total", places=2, validators=[InputRequired(), NumberRange(min=0)])
    location_code = StringField("Location code", validators=[Optional(), Length(max=64)])
    category = StringField("Product category", validators=[Optional(), Length(max=100)])
