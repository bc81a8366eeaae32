"""What every API model is built from: the request and response base models, the
list query and page envelope, and the field types several resources share.

Requests are parsed strictly: unknown fields are refused (no mass assignment of
`balance` or `organizationId`), "10" is not a number, 1.5 is not an amount.
Responses are built through these models too, so the OpenAPI document and what
the API sends cannot drift apart.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, create_model,
                      field_validator)
from pydantic.alias_generators import to_camel
from pydantic_core import core_schema

from ...domain.ledger import MAX_AMOUNT


# Ids are BIGINT: a larger number cannot name anything (and SQLite cannot even bind it).
MAX_ID = 2 ** 63 - 1


def _storable(value: Any) -> Any:
    """Refuse what no database column can hold: NUL characters (PostgreSQL text) and NaN/Infinity (JSON)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _storable(item)
    return value


def _whole(value: Any) -> Any:
    """10.0 is the integer 10 in JSON (and JSON Schema); 10.5, "10" and true stay refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _integral_floats_as_integers(schema: Any) -> Any:
    """The core schema with every integer schema in it first passed through _whole."""
    if isinstance(schema, dict):
        if schema.get("type") == "int":
            return core_schema.no_info_before_validator_function(_whole, schema)
        return {key: _integral_floats_as_integers(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_integral_floats_as_integers(value) for value in schema]
    return schema


class In(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        # Every integer field of a request takes 10.0 as 10, as JSON Schema does (see _whole).
        return _integral_floats_as_integers(handler(source))

    @field_validator("*", mode="after")
    @classmethod
    def _only_storable_values(cls, value: Any) -> Any:
        return _storable(value)


def patch_of(model: type[In], *, fixed: tuple[str, ...] = ()) -> type[In]:
    """The base of a resource's PATCH body: the fields of its create body `model` but the `fixed` ones (which
    cannot change), with their types, limits and descriptions, each optional and None when not sent. Subclass it
    (`class MissionUpdate(patch_of(MissionIn))`), adding what only an update takes, and say in the docstring
    what null does. Each field is declared once, so that a limit changed on create holds on update too."""
    own_checks = set(model.__pydantic_decorators__.field_validators) - set(In.__pydantic_decorators__.field_validators)
    if own_checks or model.__pydantic_decorators__.model_validators or model.model_config != In.model_config:
        # the derived body would not run them (or read its body otherwise): a PATCH would accept what create refuses
        raise TypeError(f"{model.__name__} has validators or settings of its own ({sorted(own_checks)}); "
                        f"declare its update")
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in fixed:
            annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            named = {"alias": info.alias} if info.alias_priority == 2 else {}  # an alias of its own, not camelCase
            fields[name] = (annotation | None, Field(None, description=info.description, examples=info.examples,
                                                     json_schema_extra=info.json_schema_extra, **named))
    return create_model(f"{model.__name__}Changes", __base__=In, __module__=model.__module__, **fields)


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def dump(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


def json_time(value: dt.datetime | None) -> str | None:
    """A time as an `Out` model's dump writes it (the database's times are UTC: ...Z), for the hot reads that
    build their answer as a dict instead of a model."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("must include a timezone, e.g. 2026-11-23T10:00:00Z")
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        raise ValueError("must be a time between the years 1 and 9999 in UTC") from None


def Whole(**constraints) -> Any:  # noqa: N802 (a type factory)
    """An integer field with constraints that also accepts an integral JSON number such as 10.0."""
    return Annotated[int, Field(**constraints), BeforeValidator(_whole)]


Amount = Whole(gt=0, le=MAX_AMOUNT, description="Whole points, 1 to 18446744073709")
Key = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(max_length=500)]
# At least one character that is not white space (what the strip would leave), stated so the document says it too.
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=r"\S")]
Tags = Annotated[list[Annotated[str, StringConstraints(max_length=100)]], Field(max_length=50)]


def _iso_datetime(value: Any) -> Any:
    """Only ISO 8601 / RFC 3339 text names a time here (pydantic alone would read 0.5 or "1700000000"
    as Unix time). Parsed here, so strict JSON parsing then receives a datetime."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", value):
        try:
            return dt.datetime.fromisoformat(value.upper())
        except ValueError:
            pass
    raise ValueError("must be an ISO 8601 date-time with a timezone, e.g. 2026-11-23T10:00:00Z")


UtcDateTime = Annotated[dt.datetime, BeforeValidator(_iso_datetime), AfterValidator(_utc)]
Id = Whole(ge=1, le=MAX_ID)
# Whole numbers, as every integer field of a request: 10.0 is 10 (In.__get_pydantic_core_schema__).
IntegerId = Annotated[int, Field(ge=1, le=MAX_ID)]
Str100 = Annotated[str, StringConstraints(max_length=100)]
MoneyIn = Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), max_digits=14, decimal_places=2)]
EventName = Annotated[str, StringConstraints(min_length=3, max_length=100)]


# --- lists -----------------------------------------------------------------------

def OrderBy(*columns: str) -> Any:  # noqa: N802 (a type factory)
    """The `order` values a list accepts, so that the OpenAPI document lists them too (see parse_order)."""
    return Literal[tuple(f"{column}{direction}" for column in columns for direction in ("", ",asc", ",desc"))]


class ListQuery(In):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
    page: Whole(ge=0, le=10_000_000, description="The page number, from 0") = 0
    limit: Whole(ge=1, le=100, description="Rows per page") = 10
    order: str | None = Field(None, max_length=50, description="column,asc|desc")


# The Foundation's queries refuse unknown parameters, as bodies refuse unknown fields: a misspelt
# filter (`?emial=`) must not silently return every member.
STRICT_QUERY = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class StrictListQuery(ListQuery):
    """A list query that refuses unknown parameters (STRICT_QUERY)."""

    model_config = STRICT_QUERY


class IdOrderQuery(StrictListQuery):
    """A list ordered by createdAt or id."""

    order: OrderBy("createdAt", "id") | None = None


class CreatedBetween(BaseModel):
    """Filters a list by when its rows were created; a mixin, named before the list query it joins
    (`class FeedQuery(CreatedBetween, ListQuery)`) so that the query's config applies."""

    from_created_at: UtcDateTime | None = Field(None, description="Only rows created at this time or later")
    to_created_at: UtcDateTime | None = Field(None, description="Only rows created at this time or earlier")


class PageOut(Out):
    """One page of a list (`?page`, `?limit`, `?order`); its rows are in `results`."""

    total_count: int = Field(description="Rows the list holds with the filters given, on all pages "
                                        "together (where a route caps the count, its description says so)")
    page: int = Field(description="This page's number, from 0")
    limit: int = Field(description="Rows per page at most")


# --- shapes several resources answer with ---------------------------------------------

# What the earning engine did (points, coupons, tiers...), as orders, missions and tracked events report it.
class EffectOut(Out):
    type: str
    points: int
    campaign_id: int | None
    action_id: int | None
    source: str
    ledger_transaction_id: int | None
    details: dict[str, Any]
