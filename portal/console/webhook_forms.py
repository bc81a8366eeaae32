"""Console forms for webhooks: shape only. Whether a URL may receive (scheme, address) and which
event types exist is the domain's to decide; its errors come back onto these fields."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import InputRequired, Length

from ..domain import webhooks
from .fields import CheckboxesField, Choice

EVENT_LABELS = {
    "member-created": "Member created", "member-updated": "Member updated", "member-tier-set": "Tier set",
    "member-tier-removed": "Tier removed", "ledger-transaction-created": "Points minted or burned",
    "coupon-code-assigned": "Coupon assigned", "coupon-code-used": "Coupon used",
    "member-purchase-order-confirmed": "Purchase confirmed", "member-purchase-order-returned": "Purchase returned",
    "member-purchase-order-partially-returned": "Purchase partly returned",
    "mission-status-updated": "Mission completed", "referral-completed": "Referral completed",
    webhooks.TEST_EVENT: "Test event",
}
# Domain field names (API spelling) -> form fields.
FIELDS = {"eventTypes": "event_types"}


class WebhookForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    url = StringField("Receiver URL (http or https)", validators=[InputRequired(), Length(max=webhooks.MAX_URL)])
    event_types = CheckboxesField("Events to send", choices=[Choice(t, f"{EVENT_LABELS[t]} ({t})")
                                                              for t in webhooks.EVENT_TYPES],
                                  validators=[InputRequired("Choose at least one event")])
    active = BooleanField("Active", default=True)

    def fields(self) -> dict:
        return {"name": self.name.data.strip(), "url": self.url.data.strip(), "event_types": self.event_types.data,
                "active": bool(self.active.data)}

    def fill(self, subscription: webhooks.WebhookSubscription) -> "WebhookForm":
        self.name.data, self.url.data = subscription.name, subscription.url
        self.event_types.data, self.active.data = list(subscription.event_types), subscription.active
        return self


class ConfirmForm(FlaskForm):
    """Only the CSRF token: test, rotate, delete and redeliver are POSTs with nothing to fill in."""
