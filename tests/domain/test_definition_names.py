"""A definition's name is checked once (checks.required_name): webhooks, signup forms and partner apps
answer the same blank or overlong name with the same message, as missions and referral programmes do."""
from __future__ import annotations

import pytest

from portal.domain import signup_forms, webhooks
from portal.domain.errors import ValidationFailed
from portal.domain.partners import apps

from .conftest import fails_cleanly

CREATORS = {
    "webhook": lambda session, org, name: webhooks.create_subscription(
        session, org.id, actor=org.actor, name=name, url="https://hooks.partner.example/portal",
        event_types=list(webhooks.EVENT_TYPES), allow_private=False),
    "signup form": lambda session, org, name: signup_forms.create_form(
        session, org.id, actor=org.actor, name=name, purpose=signup_forms.LOYALTY_CARD),
    "partner app": lambda session, org, name: apps.create_app(session, org.id, actor=org.actor, name=name),
}


@pytest.mark.parametrize("kind", CREATORS)
@pytest.mark.parametrize("name, message", [(" ", "name is required"),
                                           ("n" * 201, "name must have at most 200 characters")])
def test_a_blank_or_overlong_name_is_refused_alike(session, org, kind, name, message):
    with fails_cleanly(session, ValidationFailed) as info:
        CREATORS[kind](session, org, name)
    assert (info.value.field, info.value.message) == ("name", message)


@pytest.mark.parametrize("kind", CREATORS)
def test_a_name_of_200_characters_is_kept_without_its_spaces(session, org, kind):
    made = CREATORS[kind](session, org, f"  {'n' * 200} ")
    row = made[0] if isinstance(made, tuple) else made
    assert row.name == "n" * 200
