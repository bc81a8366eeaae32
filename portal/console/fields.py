"""Fields, small forms and helpers shared by the console's form modules (`<area>_forms.py`).

Forms check shape only (required, length, whole numbers); what a value means is
the domain's to decide, and its errors come back onto the fields (portal/forms.py).
"""
from __future__ import annotations

import datetime as dt
import uuid

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, HiddenField, SelectMultipleField
from wtforms.validators import Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from ..domain import custom_events, earning

try:  # wtforms 3.3 deprecates (value, label) tuples
    from wtforms.fields.choices import SelectChoice as Choice
except ImportError:  # pragma: no cover - wtforms < 3.3
    def Choice(value, label):  # noqa: N802
        return (value, label)

UTC = dt.timezone.utc
# Below the app's 1 MiB request limit, so an oversized file is an error on the field, not a 413 page.
MAX_UPLOAD_BYTES = 900 * 1024
UPLOAD_TOO_LARGE = f"The file is larger than {MAX_UPLOAD_BYTES // 1024} KB: split it"
EVENT_LABELS = {earning.PURCHASE_CONFIRMED: "Purchase confirmed", earning.MEMBER_CREATED: "Member created",
                earning.COUPON_USED: "Coupon used", earning.REFERRAL_COMPLETED: "Referral completed",
                earning.BIRTHDAY: "Birthday", earning.TIER_SET: "Tier changed"}


def row_choice(message: str):
    """A select of rows by id whose choices are not checked (the domain checks the row is the organisation's):
    what is sent must at least be an id, so that a forged value is a form error, not a failed int()."""
    return Regexp(r"^[0-9]{1,18}$", message=message)


class CheckboxesField(SelectMultipleField):
    """Several choices as a list of checkboxes (roles, tiers, days of the week)."""
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SubmitOnceForm(FlaskForm):
    """A form whose effect must happen once: each rendering carries a fresh key,
    so a double click or a reload of the POST replays instead of repeating."""

    key = HiddenField(default=lambda: uuid.uuid4().hex, validators=[Length(max=64)])


class ValidityWindowForm(FlaskForm):
    """The "When" section: valid from / until, entered and shown in UTC (an input has no zone)."""

    valid_from = DateTimeLocalField("Valid from (UTC)", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    valid_to = DateTimeLocalField("Valid until (UTC)", format="%Y-%m-%dT%H:%M", validators=[Optional()])

    def window(self) -> dict:
        """valid_from and valid_to as the domain takes them (aware UTC, or None)."""
        return {"valid_from": as_utc(self.valid_from.data), "valid_to": as_utc(self.valid_to.data)}

    def fill_window(self, running) -> None:
        self.valid_from.data, self.valid_to.data = as_input(running.valid_from), as_input(running.valid_to)


class SwitchableWindowForm(ValidityWindowForm):
    """The "When" section of something that is also switched on or off (missions, programmes, campaigns)."""

    active = BooleanField("Active", default=True)


class EngagementForm(SwitchableWindowForm):
    """What the mission and referral programme forms share: an `event_type` listened to and a
    `ledger_account_id` paid into, chosen among the organisation's, and edits sent as changes."""

    def with_choices(self, custom_types, accounts, current_event: str | None = None):
        self.event_type.choices = event_choices(custom_types, current_event or self.event_type.data)
        self.ledger_account_id.choices = account_choices(accounts)
        return self

    def changes(self, current) -> dict:
        """Only what differs from `current` (as the form can show it), like an API PATCH: an unchanged
        event type that was switched off since does not block other edits, and the audit names what
        really changed."""
        return {name: value for name, value in self.fields().items()
                if not same_as_shown(getattr(current, name), value)}


def csv_list(text: str | None) -> list[str]:
    """The non-empty items of a comma- (or line-) separated text."""
    return [part.strip() for part in (text or "").replace("\n", ",").split(",") if part.strip()]


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A datetime-local input's value (naive, meant as UTC) as an aware UTC datetime."""
    return value.replace(tzinfo=UTC) if value else None


def as_input(value: dt.datetime | None) -> dt.datetime | None:
    """A stored datetime as a datetime-local input shows it: UTC, without a zone."""
    return value.astimezone(UTC).replace(tzinfo=None) if value else None


def same_as_shown(current, wanted) -> bool:
    """Equal as the form can show it: times to the minute (an API-set second is not a change)."""
    if isinstance(current, dt.datetime) and isinstance(wanted, dt.datetime):
        return current.astimezone(UTC).replace(second=0, microsecond=0) == wanted
    return current == wanted


def form_names(api_names: dict[str, str]) -> dict[str, str]:
    """Domain field names (as the API spells them, goalCount) -> form field names (goal_count)."""
    return {api: python for python, api in api_names.items()}


def event_choices(custom_types, current: str | None = None) -> dict[str, list]:
    """Built-in events and the organisation's active custom types, grouped; `current` stays choosable
    (an edited mission may listen to a type switched off since: the domain then says so on the field)."""
    builtin = [Choice(name, f"{EVENT_LABELS[name]} ({name})" if name in EVENT_LABELS else name)
               for name in custom_events.BUILT_IN_EVENT_TYPES]
    custom = [Choice(t.name, t.name) for t in custom_types if t.active]
    known = {c[0] if isinstance(c, tuple) else c.value for c in builtin + custom}
    if current and current not in known:
        custom.append(Choice(current, f"{current} (inactive or unknown)"))
    groups = {"Built-in events": builtin}
    if custom:
        groups["Custom event types"] = custom
    return groups


def account_choices(accounts) -> list:
    """The points accounts something may pay into; empty means the programme's main account."""
    return [Choice("", "Main points account")] + [Choice(str(a.id), a.name) for a in accounts]
