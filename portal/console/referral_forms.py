"""Console forms for referral programmes and their codes: shape only.

The bounds mirror the JSON API's schemas; whether an event type is known or a
code is free is the domain's to decide, and its errors come back onto these
fields through PROGRAM_FIELDS and CODE_FIELDS.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from ..domain import earning, referrals
from .fields import EngagementForm, form_names

MAX_CAP = 1_000_000_000

PROGRAM_FIELDS = form_names(referrals.API_NAMES)
CODE_FIELDS = {"memberId": "member", "codes": "code", "code": "code"}


class ProgramForm(EngagementForm):
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

    def fields(self) -> dict:
        return {
            "name": self.name.data.strip(), "description": (self.description.data or "").strip(),
            "event_type": self.event_type.data, "referrer_points": self.referrer_points.data,
            "referred_points": self.referred_points.data,
            "ledger_account_id": int(self.ledger_account_id.data) if self.ledger_account_id.data else None,
            "max_referrals_per_member": self.max_referrals_per_member.data,
            "max_uses_per_code": self.max_uses_per_code.data, "active": bool(self.active.data), **self.window()}

    def fill(self, program: referrals.ReferralProgram) -> "ProgramForm":
        for name in ("name", "description", "event_type", "referrer_points", "referred_points",
                     "max_referrals_per_member", "max_uses_per_code", "active"):
            getattr(self, name).data = getattr(program, name)
        self.ledger_account_id.data = str(program.ledger_account_id or "")
        self.fill_window(program)
        return self


class ReferralCodeForm(FlaskForm):
    member = StringField("Member (card code or member id)", validators=[InputRequired(), Length(max=100)])
    code = StringField("Code (optional; generated when empty)", validators=[
        Optional(), Length(min=4, max=40)])
