"""Console forms for orders: the list's filters and the staff actions on one order.
Shape only: which action an order's status allows, and how much may still come back, is the domain's."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, HiddenField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from ..domain.orders import ACTION_TARGETS, MAX_REASON, STATUSES
from .fields import Choice

ACTION_LABELS = {"confirm": "Confirm", "cancel": "Cancel order", "return": "Return all", "partial-return": "Return part"}
ACTION_DONE = {"confirm": "confirmed", "cancel": "cancelled", "return": "returned", "partial-return": "partly returned"}


class OrderFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    member = StringField("Member (email or member id)", validators=[Optional(), Length(max=254)])
    status = SelectField("Status", choices=[Choice("", "Any status")] + [Choice(s, s.capitalize()) for s in STATUSES],
                         validators=[Optional()])
    since = DateField("From", validators=[Optional()])
    until = DateField("To (inclusive)", validators=[Optional()])
    store = SelectField("Store", choices=[Choice("", "Any store")], validate_choice=False, validators=[Optional()])

    def with_stores(self, codes: list[str]) -> "OrderFilterForm":
        self.store.choices = [Choice("", "Any store")] + [Choice(c, c) for c in codes]
        return self


class OrderActionForm(FlaskForm):
    # Sent by the button pressed: one form, a button per action the order's status allows.
    action = HiddenField(validators=[InputRequired("Choose an action"), Length(max=32)])
    returned_total = DecimalField("Returned so far (cumulative amount)", places=2,
                                  validators=[Optional(), NumberRange(min=0)])
    reason = StringField("Reason", validators=[InputRequired("Give a reason"), Length(max=MAX_REASON)])

    def validate_action(self, field) -> None:
        if field.data not in ACTION_TARGETS:
            raise ValidationError("Unknown action")
