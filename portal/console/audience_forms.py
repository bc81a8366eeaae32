"""Console forms for audiences: shape only. The domain parses rules (RuleSyntaxError names
line and column) and knows which members exist."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ..domain.audiences import LIST, RULE
from ..domain.members import CARDCODE
from .fields import MAX_UPLOAD_BYTES, UPLOAD_TOO_LARGE, Choice

ID_TYPE_CHOICES = [Choice(CARDCODE, "Card codes"), Choice("ID", "Member ids")]
# Domain field names -> form field names.
AUDIENCE_FIELDS = {"rule": "rule", "name": "name", "kind": "kind", "memberIds": "file"}


def _file_field(label: str, *required) -> FileField:
    return FileField(label, validators=[*required, FileSize(MAX_UPLOAD_BYTES, message=UPLOAD_TOO_LARGE)])


class AudienceForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=100)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=1000)])
    kind = RadioField("Who is in it", default=RULE, choices=[
        Choice(RULE, "Members matching a rule (always up to date)"),
        Choice(LIST, "A list of members (uploaded)")])
    rule = TextAreaField("Rule", validators=[Optional(), Length(max=4000)])
    id_type = SelectField("The file lists", default=CARDCODE, choices=ID_TYPE_CHOICES)
    file = _file_field("CSV file of members (optional)", Optional())

    def rule_text(self) -> str | None:
        return (self.rule.data or "").strip() if self.kind.data == RULE else None


class AudienceEditForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=100)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=1000)])
    rule = TextAreaField("Rule", validators=[Optional(), Length(max=4000)])

    def fill(self, audience) -> "AudienceEditForm":
        self.name.data, self.description.data, self.rule.data = audience.name, audience.description, audience.rule
        return self


class AddMembersForm(FlaskForm):
    id_type = SelectField("The file lists", default=CARDCODE, choices=ID_TYPE_CHOICES)
    file = _file_field("CSV file", FileRequired("Choose a CSV file"))
