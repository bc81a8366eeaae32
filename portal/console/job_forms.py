"""Console forms for bulk jobs: shape only. The domain reads and checks the file's rows and the grant's
amount, reason and key (portal/domain/bulk/)."""
from __future__ import annotations

import uuid

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length

# A member file is bigger than other uploads: 100,000 rows are about 8 MB.
MAX_IMPORT_BYTES = 16 * 1024 * 1024
# Domain field names -> form field names.
GRANT_FIELDS = {"audienceId": "audience_id", "amount": "amount", "reason": "reason", "key": "key"}
IMPORT_FIELDS = {"file": "file"}


class ImportForm(FlaskForm):
    file = FileField("CSV or Excel file of members", validators=[
        FileRequired("Choose a CSV or Excel (.xlsx) file"),
        FileSize(MAX_IMPORT_BYTES, message=f"The file is larger than {MAX_IMPORT_BYTES // 2**20} MB: split it")])


class ConfirmForm(FlaskForm):
    """Confirming a checked import: the CSRF token is all it carries."""


class GrantForm(FlaskForm):
    audience_id = SelectField("Audience", coerce=int, validators=[InputRequired("Choose an audience")])
    amount = IntegerField("Points per member", validators=[InputRequired("Enter a whole number of points")])
    reason = StringField("Reason", validators=[InputRequired(), Length(max=200)])
    # Prefilled with a fresh key; the same key again finds the grant already made instead of granting twice.
    key = StringField("Idempotency key", default=lambda: f"grant-{uuid.uuid4().hex[:12]}",
                      validators=[InputRequired(), Length(max=100)])

    def with_audiences(self, audiences) -> "GrantForm":
        self.audience_id.choices = [(a.id, a.name) for a in audiences]
        return self
