"""Console forms of a member's page: points adjustment, lock/unlock, manual tier, and the member search.
Shape only: what a value means (enough points, a tier of this programme) is the domain's to decide."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from ..domain.ledger import MAX_AMOUNT
from ..domain.members import ACTIVE, LOCKED
from .fields import Choice, SubmitOnceForm


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField("Search members", validators=[Optional(), Length(max=200)])


class AdjustPointsForm(SubmitOnceForm):
    amount = IntegerField("Points (+ to add, − to remove)",
                          validators=[InputRequired("Enter a whole number of points"),
                                      NumberRange(-MAX_AMOUNT, MAX_AMOUNT)])
    reason = StringField("Reason", validators=[InputRequired("Give a reason for the adjustment"), Length(max=500)])


class AccountStatusForm(FlaskForm):
    account_status = HiddenField(validators=[InputRequired()])
    reason = StringField("Reason (optional)", validators=[Optional(), Length(max=200)])

    def for_member(self, member) -> "AccountStatusForm":
        """The form proposes the opposite of the member's current status."""
        if not self.account_status.data:
            self.account_status.data = ACTIVE if member.account_status == LOCKED else LOCKED
        return self


class SetTierForm(FlaskForm):
    tier = SelectField("Tier", coerce=str, validate_choice=False)
    expires_on = DateField("Expires on (optional, end of day UTC)", validators=[Optional()])
    reason = StringField("Reason", validators=[Optional(), Length(max=200)])

    def with_tiers(self, tiers) -> "SetTierForm":
        self.tier.choices = [Choice("", "No tier")] + [Choice(str(t.id), t.name) for t in tiers]
        return self
