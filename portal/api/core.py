"""The API's edge: bearer auth, role checks, organisation isolation, request
parsing with pydantic, problem+json errors, one commit per request, and the
route registry from which the OpenAPI document is generated.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Callable

from flask import Blueprint, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import BaseConverter

from ..domain.actors import Actor
from ..domain.api_key_cache import ApiKeyCache
from ..domain.errors import DomainError
from ..domain.pagination import paginate, parse_order
from ..extensions import db
from .schemas.common import MAX_ID, PageOut

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class ReferenceConverter(BaseConverter):
    """A path segment naming an object, except the words sibling routes use (`/members/batch`,
    `/members/lookup`), so that those answer 405 with an exact Allow header instead of matching."""

    regex = r"(?!(?:batch|lookup)(?![^/]))[^/]+"


bp.record_once(lambda state: state.app.url_map.converters.setdefault("ref", ReferenceConverter))

bp.record_once(lambda state: state.app.extensions.setdefault(
    "api_key_cache", ApiKeyCache(ttl=state.app.config.get("API_KEY_CACHE_SECONDS", 5.0))))

PROBLEM_TYPES = "https://portal.example/problems/"


@dataclass
class RouteSpec:
    rule: str
    method: str
    endpoint: str
    summary: str
    tag: str
    role: str | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    public: bool
    idempotent: bool
    path_params: dict[str, str] = field(default_factory=dict)
    # More for the OpenAPI description (a callable is asked when the document is built: configured limits).
    description: str | Callable[[], str] | None = None
    throttled: bool = False  # may answer 429
    member_scope: str | None = None
    also: tuple[int, ...] = ()  # other success statuses, with the same body (an order created or left as it was)


registry: list[RouteSpec] = []


@dataclass
class Call:
    """What a handler gets: the acting party, its organisation, the parsed input."""

    actor: Actor
    organization_id: int | None
    body: Any
    query: Any

    @property
    def session(self):
        return db.session


class ApiProblem(Exception):
    def __init__(self, status: int, title: str, detail: str = "", errors: dict | None = None,
                 headers: dict | None = None, code: str | None = None):
        self.status, self.title, self.detail = status, title, detail
        self.errors, self.headers = errors or {}, headers or {}
        self.code = code or re.sub(r"[^a-z]+", "-", title.lower()).strip("-")


def problem_response(status: int, title: str, detail: str = "", errors: dict | None = None,
                     headers: dict | None = None, code: str | None = None):
    body = {"type": PROBLEM_TYPES + (code or re.sub(r"[^a-z]+", "-", title.lower()).strip("-")),
            "title": title, "status": status, "detail": detail or title}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def ok(payload: Any, status: int = 200, *, replayed: bool = False):
    response = jsonify(payload)
    response.status_code = status
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def endpoint(rule: str, method: str = "GET", *, role: str | None, summary: str, tag: str,
             body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
             response: type[BaseModel] | None = None, status: int = 200, public: bool = False,
             idempotent: bool = False, name_prefix: str | None = None,
             description: str | Callable[[], str] | None = None, throttled: bool = False,
             member_scope: str | None = None, member_of: Callable[..., int] | None = None,
             also: tuple[int, ...] = ()):
    """Register an API route. The handler receives (call, **path params) and returns a response.

    The endpoint name, which is also the operationId, is `<name_prefix>_<handler name>`; the prefix
    is the module's name unless given (an operationId is published: it must not change when a
    module is renamed or split).

    `member_scope` opens the route to an OAuth token a member granted a partner app, when the token
    carries that scope, for that member's own data only (see `_require_member_scope`). A route naming
    no `memberId` gives `member_of(call, **path)`, the id of the member its object belongs to.
    """

    def decorator(fn: Callable):
        takes_call = "call" in inspect.signature(fn).parameters
        if member_scope and member_of is None and "<memberId>" not in rule and ":memberId>" not in rule:
            raise TypeError(f"{fn.__name__}: a member_scope route names <memberId> or gives member_of")

        @wraps(fn)
        def view(**path):
            actor = None if public else authenticate()
            organization_id = path.pop("organizationId", None)
            if actor is not None:
                if organization_id is not None and organization_id != actor.organization_id:
                    raise ApiProblem(404, "Not found", "No such resource in this organisation",
                                     errors={"organizationId": ["not found"]})
                if actor.kind == "oauth":
                    _require_member_scope(actor, member_scope, path)
                elif role and not actor.has_role(role):
                    raise ApiProblem(403, "Forbidden", f"This token lacks the role {role}",
                                     errors={"role": [f"requires {role}"]})
            _require_nameable(path)
            call = Call(actor=actor, organization_id=organization_id if organization_id is not None else (
                actor.organization_id if actor else None), body=_parse_body(body) if body else None,
                query=_parse_query(query) if query else None)
            if member_of is not None and actor is not None and actor.kind == "oauth":
                _require_own_member(actor, member_of(call, **path))
            result = fn(call, **path) if takes_call else fn(**path)
            if method != "GET":
                db.session.commit()
            return result

        path_params = {name: converter or "string" for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule)}
        name = f"{name_prefix or fn.__module__.rsplit('.', 1)[-1]}_{fn.__name__}"
        bp.add_url_rule(rule, endpoint=name, view_func=view, methods=[method])
        registry.append(RouteSpec(rule=rule, method=method, endpoint=name, summary=summary, tag=tag, role=role,
                                  body=body, query=query, response=response, status=status, public=public,
                                  idempotent=idempotent, path_params=path_params, description=description,
                                  throttled=throttled, member_scope=member_scope, also=also))
        return view

    return decorator


def _require_nameable(path: dict[str, Any]) -> None:
    """A path value no row can have (an id beyond BIGINT, a NUL character) names nothing: 404."""
    for name, value in path.items():
        if (isinstance(value, int) and value > MAX_ID) or (isinstance(value, str) and "\x00" in value):
            raise ApiProblem(404, "Not found", "No such resource in this organisation", errors={name: ["not found"]})


def _require_member_scope(actor: Actor, scope: str | None, path: dict[str, Any]) -> None:
    """A member's OAuth token opens only routes that name its scope, and in a route naming a member
    only that member (by id: an identifier could name anyone). A route that finds the member another
    way (an account coupon) says how with `member_of`, checked once the call is parsed."""
    if scope is None or scope not in actor.scopes:
        needed = f"the scope {scope}" if scope else "a staff API key"
        raise ApiProblem(403, "Forbidden", f"This route needs {needed}", code="insufficient-scope",
                         errors={"Authorization": [f"requires {needed}"]},
                         headers={"WWW-Authenticate": 'Bearer realm="portal", error="insufficient_scope"'
                                                      + (f', scope="{scope}"' if scope else "")})
    if "memberId" in path and (request.headers.get("id-type", "ID") != "ID"
                               or path["memberId"] != str(actor.member_id)):
        raise ApiProblem(404, "Not found", "No such resource in this organisation", errors={"memberId": ["not found"]})


def _require_own_member(actor: Actor, member_id: int | None) -> None:
    """A member's OAuth token reaches its own member only; anyone else's data does not exist for it."""
    if member_id is None or member_id != actor.member_id:
        raise ApiProblem(404, "Not found", "No such resource in this organisation", errors={"memberId": ["not found"]})


def authenticate() -> Actor:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem(401, "Unauthorized", "Send Authorization: Bearer <token>",
                         errors={"Authorization": ["a bearer token is required"]},
                         headers={"WWW-Authenticate": 'Bearer realm="portal"'})
    actor = _actor_for_token(token.strip())
    if actor is None:
        raise ApiProblem(401, "Unauthorized", "The token is invalid, expired or revoked",
                         errors={"Authorization": ["the token is invalid, expired or revoked"]},
                         headers={"WWW-Authenticate": 'Bearer realm="portal", error="invalid_token"'})
    g.actor = actor
    return actor


# Other token kinds (OAuth access tokens) register a resolver here.
token_resolvers: list[Callable[[str], Actor | None]] = []


def _actor_for_token(token: str) -> Actor | None:
    if "\x00" in token:
        return None
    actor = current_app.extensions["api_key_cache"].resolve(db.session, token)
    if actor is not None:
        return actor
    for resolve in token_resolvers:
        actor = resolve(token)
        if actor is not None:
            return actor
    return None


def _parse_body(model: type[BaseModel]):
    if request.mimetype != "application/json":
        raise ApiProblem(415, "Unsupported media type", "Send the body as application/json",
                         errors={"body": ["Content-Type must be application/json"]})
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise ApiProblem(413, "Body too large", "The request body is larger than the limit",
                         errors={"body": [f"at most {request.max_content_length} bytes"]}) from None
    if not raw.strip():
        raise ApiProblem(400, "Malformed body", "The request body is empty", errors={"body": ["required"]})
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as error:
        if any(e["type"] == "json_invalid" for e in error.errors()):
            raise ApiProblem(400, "Malformed body", "The request body is not valid JSON",
                             errors={"body": ["not valid JSON"]}) from None
        if any(e["type"] == "model_type" and not e["loc"] for e in error.errors()):
            raise ApiProblem(400, "Malformed body", "The request body must be a JSON object",
                             errors={"body": ["must be an object"]}) from None
        raise _validation_problem(error) from None


def _parse_query(model: type[BaseModel]):
    # Every parameter the model reads is a single value: a repeated one is refused, not read as its first
    # value. One the model does not read is its config's business (ignored, or refused as unknown).
    reads = {name for name, info in model.model_fields.items() for name in (name, info.alias) if name}
    repeated = sorted(name for name, values in request.args.lists() if len(values) > 1 and name in reads)
    if repeated:
        raise ApiProblem(422, "Invalid field", f"{repeated[0]}: give it once",
                         errors={name: ["given more than once"] for name in repeated})
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as error:
        raise _validation_problem(error) from None


def _validation_problem(error: ValidationError) -> ApiProblem:
    errors: dict[str, list[str]] = {}
    for item in error.errors():
        errors.setdefault(_field_name(item["loc"]) or "body", []).append(item["msg"])
    first = next(iter(errors))
    return ApiProblem(422, "Invalid field", f"{first}: {errors[first][0]}", errors=errors)


def _field_name(loc) -> str:
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif part in ("function-after", "function-before", "constrained-int"):
            continue
        else:
            name += f".{part}" if name else str(part)
    return name


def handle_domain_error(error: DomainError):
    db.session.rollback()
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return problem_response(error.status, error.title, error.message, error.errors, headers,
                            code=error.code.replace("_", "-"))


def handle_api_problem(error: ApiProblem):
    db.session.rollback()
    return problem_response(error.status, error.title, error.detail, error.errors, error.headers, error.code)


def handle_http_exception(error: HTTPException):
    db.session.rollback()
    return problem_response(error.code or 500, error.name, error.description or error.name)


bp.register_error_handler(DomainError, handle_domain_error)
bp.register_error_handler(ApiProblem, handle_api_problem)


def in_organization(call: Call, model):
    """Every row of `model` in the caller's organisation: the query a list pages through."""
    return select(model).where(model.organization_id == call.organization_id)


def page_response(call: Call, stmt, envelope: type[PageOut], serialize: Callable, *, orders: dict,
                  default: str = "createdAt,desc", scalars: bool = True, whole_page: bool = False,
                  count_cap: int | None = None, **extra):
    """One page of a list query (?page, ?limit, ?order) in the seed's envelope: totalCount, page, limit, results
    (and the envelope's `extra` fields). `serialize` shapes one item, or with `whole_page` the page's list of
    items at once (to look up what they refer to in one query). `count_cap`: see `pagination.total_of`."""
    q = call.query
    result = paginate(call.session, stmt, page=q.page, limit=q.limit, order=parse_order(q.order, orders, default),
                      scalars=scalars, count_cap=count_cap)
    results = serialize(result.items) if whole_page else [serialize(item) for item in result.items]
    return ok(page_payload(envelope, result, results, **extra))


def page_payload(envelope: type[PageOut], page, results: list, **extra) -> dict:
    """A page the domain already cut (a `pagination.Page`) in the envelope, with these results."""
    return envelope(total_count=page.total, page=page.page, limit=page.limit, results=results, **extra).dump()


def plain_page(page, results: list[dict]) -> dict:
    """A page the domain already cut in the envelope, its results already in their JSON shape (no model built:
    the hot lists; the route's `response` model still documents it)."""
    return {"totalCount": page.total, "page": page.page, "limit": page.limit, "results": results}
