"""A PATCH body made by `patch_of` from its create body: the same fields with the same limits, each optional."""
from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field, ValidationError, field_validator

from portal.api.schemas.common import In, Name, Whole, patch_of


class ThingIn(In):
    name: Name
    size: Whole(ge=1, le=5) = 1
    note: str = Field("", max_length=10, description="Shown to members")
    kind: Literal["a", "b"] = "a"


class ThingUpdate(patch_of(ThingIn, fixed=("kind",))):
    """Only the fields sent change."""


def parse(text: str) -> ThingUpdate:
    return ThingUpdate.model_validate_json(text, strict=True)


def test_every_field_is_optional_and_none_when_not_sent():
    empty = parse("{}")
    assert empty.model_fields_set == set()
    assert (empty.name, empty.size, empty.note) == (None, None, None)
    assert parse('{"note": null}').model_fields_set == {"note"}


def test_the_create_body_limits_hold():
    parsed = parse('{"name": "  Gold  ", "size": 5.0}')
    assert (parsed.name, parsed.size) == ("Gold", 5)
    for bad in ('{"size": 6}', '{"size": 2.5}', '{"size": "2"}', '{"name": "   "}', '{"note": "01234567890"}',
                '{"note": "a\\u0000"}'):
        with pytest.raises(ValidationError):
            parse(bad)


def test_a_fixed_field_and_an_unknown_one_are_refused():
    for bad in ('{"kind": "a"}', '{"colour": "red"}'):
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            parse(bad)


def test_the_document_keeps_names_descriptions_and_limits():
    schema = ThingUpdate.model_json_schema(by_alias=True)
    assert schema["title"] == "ThingUpdate" and schema["description"] == "Only the fields sent change."
    assert list(schema["properties"]) == ["name", "size", "note"] and "required" not in schema
    assert schema["properties"]["note"]["description"] == "Shown to members"
    assert {"type": "integer", "minimum": 1, "maximum": 5} in schema["properties"]["size"]["anyOf"]


def test_an_api_patch_refuses_what_create_refuses(api, org):
    tier = api.post(f"/loyalty-programs/{org.program.id}/tiers", json={"name": "Gold", "minPoints": 10}).json
    tier_id = tier["loyaltyTier"]["id"]
    r = api.patch(f"/loyalty-programs/{org.program.id}/tiers/{tier_id}", json={"name": "x" * 101})
    assert r.status_code == 422 and r.json["errors"] == {"name": ["String should have at most 100 characters"]}
    assert api.get(f"/loyalty-programs/{org.program.id}/tiers/{tier_id}").json["loyaltyTier"]["name"] == "Gold"


def test_a_create_body_with_checks_of_its_own_is_refused():
    """The derived PATCH body would not run them, and would accept what create refuses."""
    class Checked(In):
        size: int = 1

        @field_validator("size")
        @classmethod
        def _small(cls, value: int) -> int:
            return value

    with pytest.raises(TypeError, match="validators or settings of its own"):
        patch_of(Checked)


def test_a_field_named_by_its_own_alias_keeps_it_in_the_patch_body():
    class Texts(In):
        i18n_texts: dict[str, str] = Field(default_factory=dict, alias="i18n")

    changes = patch_of(Texts)
    assert changes.model_validate({"i18n": {"de": "Hallo"}}).i18n_texts == {"de": "Hallo"}
    assert "i18n" in changes.model_json_schema()["properties"]
