"""Console test helpers: a client that signs staff in and posts with real CSRF tokens, and the console forms
the tests fill in. Imported by tests/web/conftest.py (its fixtures) and the console tests."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .page import CSRF_TOKEN, field_error

PASSWORD = "correct-horse-9"

# The refusals of what the mission and referral programme forms share (portal/console/fields.py, EngagementForm):
# the event listened to, the "When" window and the ledger account paid into; cases for `ConsoleForm.refusals_test`.
ENGAGEMENT_REFUSALS = [
    ({"event_type": "never-defined"}, "event_type", "Unknown or inactive event type"),
    ({"valid_from": "2030-01-02T00:00", "valid_to": "2030-01-01T00:00"}, "valid_to", "must be after"),
    ({"ledger_account_id": "999999"}, "ledger_account_id", "No such ledger account"),
]


class Console:
    """Drives /console/ through the test client as a person with a browser would."""

    def __init__(self, client):
        self.client = client
        self.signed_in = False

    def csrf_token(self, path: str = "/console/login") -> str:
        response = self.client.get(path)
        match = CSRF_TOKEN.search(response.get_data(as_text=True))
        assert match, f"no csrf_token input on {path} (status {response.status_code})"
        return match.group(1)

    def login(self, email: str, password: str = PASSWORD, next: str | None = None, address: str | None = None):
        data = {"csrf_token": self.csrf_token(), "email": email, "password": password}
        if next is not None:
            data["next"] = next
        environ = {"REMOTE_ADDR": address} if address else {}
        response = self.client.post("/console/login", data=data, environ_base=environ)
        self.signed_in = response.status_code == 302
        return response

    def logout(self):
        self.signed_in = False
        return self.client.post("/console/logout", data={"csrf_token": self.csrf_token("/console/")})

    def post(self, path: str, data: dict | None = None, **kwargs):
        """POST with a valid token taken from a signed-in page."""
        return self.client.post(path, data={"csrf_token": self.csrf_token("/console/"), **(data or {})}, **kwargs)

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)


class ConsoleForm:
    """A console form as the tests fill it in: where a new one is posted, and the usual fields."""

    def __init__(self, new_path: str, **fields):
        self.new_path = new_path
        self.fields = fields

    def data(self, **extra) -> dict:
        """The usual fields with `extra` put over them."""
        return {**self.fields, **extra}

    def submit(self, console: Console, **extra):
        """Create one: post the usual fields and `extra` to the "new" page."""
        return console.post(self.new_path, self.data(**extra))

    def submit_refused(self, console: Console, field: str, message: str, **extra):
        """`submit`, which must come back as the form again (422) with `message` on `field`."""
        response = self.submit(console, **extra)
        assert response.status_code == 422
        assert message in field_error(response, field)
        return response

    def refusals_test(self, cases: list[tuple[dict, str, str]], *, created: Callable[[Any], Any]):
        """A test of the new page's refusals: each case `(changes, field, message)` is the usual fields with
        `changes` put over them, refused (`submit_refused`) with `message` on `field`, and `created(session)`
        finds nothing afterwards. Bound to a `test_...` name in the test module, which pytest then collects:

            test_errors_land_on_their_fields = FORM.refusals_test([
                ({"name": ""}, "name", "This field is required"),
            ], created=lambda session: named(session, "Partner CRM"))
        """
        @pytest.mark.parametrize("changes, field, message", cases)
        def test(console, signed_in, session, changes, field, message):
            self.submit_refused(console, field, message, **changes)
            assert created(session) is None
        return test
