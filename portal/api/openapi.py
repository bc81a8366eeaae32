"""The OpenAPI 3.1 document, generated from the route registry and the pydantic models."""
from __future__ import annotations

import re
from decimal import Decimal

from flask import Blueprint, render_template, url_for
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from .core import bp, ok, registry
from .schemas.common import MAX_ID

docs_bp = Blueprint("api_docs", __name__)

PROBLEM = {"type": "object", "required": ["type", "title", "status"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"},
    "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}}


def build_document() -> dict:
    refs, components = _components()
    paths: dict[str, dict] = {}
    for spec in registry:
        path = "/api/v1" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", spec.rule)
        operation: dict = {"operationId": spec.endpoint, "summary": spec.summary, "tags": [spec.tag],
                           "parameters": _path_parameters(spec), "responses": {}}
        if spec.query is not None:
            operation["parameters"] += _query_parameters(refs[(spec.query, "validation")], components)
        if spec.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": refs[(spec.body, "validation")]}}}
        success: dict = {"description": "Success"}
        if spec.response is not None:
            success["content"] = {"application/json": {"schema": refs[(spec.response, "serialization")]}}
        operation["responses"][str(spec.status)] = success
        for other in spec.also:
            operation["responses"][str(other)] = success
        if spec.idempotent:
            success["description"] += "; a retry with the same systemUniqueKey and body gets the same response again"
            success["headers"] = {"Idempotent-Replayed": {
                "description": "`true` when this is the stored response to an earlier request with the same key",
                "schema": {"type": "string", "enum": ["true"]}}}
        for code, text in _problem_statuses(spec).items():
            operation["responses"][code] = {"description": text, "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        if not spec.public:
            operation["security"] = [{"bearer": []}]
            if spec.role:
                operation["description"] = f"Requires the role `{spec.role}` (or `admin`)."
        if spec.description:
            more = spec.description() if callable(spec.description) else spec.description
            operation["description"] = " ".join(filter(None, [operation.get("description"), more]))
        if spec.member_scope:
            operation["description"] = (operation.get("description", "") + " An OAuth token a member granted "
                                        f"with the scope `{spec.member_scope}` may call it for that member's "
                                        "own data.").strip()
        paths.setdefault(path, {})[spec.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Portal loyalty API", "version": "1.0.0",
                 "description": "Members, points, tiers and more. Errors are RFC 9457 problem+json."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": (
                "API key or OAuth 2 access token. A server process remembers a valid API key for a few seconds "
                "(API_KEY_CACHE_SECONDS, 5 by default): a revoked key is refused within that bound everywhere, "
                "at once by the process that revoked it.")}}},
    }


def _path_parameters(spec) -> list[dict]:
    params = []
    for name, converter in spec.path_params.items():
        schema = {"type": "integer", "minimum": 0, "maximum": MAX_ID} if converter == "int" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if any(name == "memberId" for name in spec.path_params):
        params.append({"name": "id-type", "in": "header", "required": False,
                       "description": "Treat memberId as an identifier of this type",
                       "schema": {"type": "string", "enum": ["ID", "CARDCODE", "APPCODE", "EXTERNALCODE"]}})
    return params


# Where two models share a class name, pydantic qualifies their component names by module
# (`portal__api__referrals__ProgramOut`). Component names are published, so a module's models keep
# the qualifier they were first published under after they moved.
PUBLISHED_MODULE = {"portal.api.schemas.programs": "portal.api.schemas",
                    "portal.api.schemas.referrals": "portal.api.referrals"}


# The alternative of build_decimal_pattern that allows an exponent.
EXPONENT_BRANCH = r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+"


class _PublishedNames(GenerateJsonSchema):
    def get_defs_ref(self, core_mode_ref):
        core_ref, mode = core_mode_ref
        module, _, name = core_ref.rpartition(".")
        return super().get_defs_ref((f"{PUBLISHED_MODULE.get(module, module)}.{name}", mode))

    def get_decimal_pattern(self, schema):
        """An amount sent as text must look like one ("" or "12,5" is refused): say so, with its digits and
        places, without a sign when it cannot be negative, and without an exponent when its digits are
        limited (1e-9999 has a great many)."""
        pattern = self.build_decimal_pattern(schema)
        if schema.get("max_digits") is not None or schema.get("decimal_places") is not None:
            pattern = pattern.replace(EXPONENT_BRANCH, "")
        low = schema.get("ge", schema.get("gt"))
        return pattern.replace("^[+-]?", "^", 1) if low is not None and low >= 0 else pattern

    def decimal_schema(self, schema):
        """An amount sent as a number: its places and digits stated too (multipleOf, a bound)."""
        json_schema = super().decimal_schema(schema)
        places, digits = schema.get("decimal_places"), schema.get("max_digits")
        if self.mode == "validation" and "anyOf" in json_schema:
            number = json_schema["anyOf"][0]
            if places is not None and "multipleOf" not in number:
                number["multipleOf"] = float(Decimal(1).scaleb(-places))
            if digits is not None and places is not None:
                bound = float(10 ** (digits - places))
                if number.get("exclusiveMaximum", number.get("maximum", bound)) >= bound:
                    number.pop("maximum", None)
                    number["exclusiveMaximum"] = bound
                if number.get("exclusiveMinimum", number.get("minimum", -bound)) <= -bound:
                    number.pop("minimum", None)
                    number["exclusiveMinimum"] = -bound
        return json_schema


def _components() -> tuple[dict, dict]:
    """Every model's JSON Schema, generated together so that two models with the same class name
    (in different schema modules) get distinct component names instead of overwriting each other."""
    pairs = {(model, "validation") for spec in registry for model in (spec.query, spec.body) if model is not None}
    pairs |= {(spec.response, "serialization") for spec in registry if spec.response is not None}
    ordered = sorted(pairs, key=lambda pair: (pair[0].__module__, pair[0].__qualname__, pair[1]))
    refs, top = models_json_schema(ordered, by_alias=True, ref_template="#/components/schemas/{model}",
                                   schema_generator=_PublishedNames)
    return refs, {"Problem": PROBLEM, **top.get("$defs", {})}


def _query_parameters(ref: dict, components: dict) -> list[dict]:
    schema = components[ref["$ref"].rsplit("/", 1)[-1]]
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()]


def _problem_statuses(spec) -> dict[str, str]:
    codes = {"404": "Unknown id, or another organisation's"}
    if not spec.public:
        codes["401"] = "Missing or invalid token"
        codes["403"] = "The token lacks the role"
    if spec.body is not None:
        codes.update({"400": "Malformed body", "413": "Body too large", "415": "Not JSON",
                      "422": "Invalid field (named in errors)"})
    if spec.query is not None or "memberId" in spec.path_params:  # the id-type header is checked too
        codes["422"] = "Invalid field (named in errors)"
    if spec.method != "GET":
        codes["409"] = "Conflict: limit, balance, duplicate or reused systemUniqueKey"
    if spec.throttled:
        codes["429"] = "Too many refused attempts; the limits are in the description"
    elif spec.public and spec.method != "GET":  # public writes are rate-limited per address
        codes["429"] = "Too many requests; try again later"
    return codes


@bp.get("/openapi.json")
def openapi_document():
    return ok(build_document())


@docs_bp.get("/api/docs")
def api_docs():
    return render_template("api_docs.html", spec_url=url_for("api.openapi_document"))
