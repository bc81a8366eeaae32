"""Partner apps (the seed's `portals`): the OAuth clients behind "Sign in with the merchant".

Also resolves the OAuth access tokens members grant these apps to an Actor
of kind "oauth" (see core.authenticate); routes opened to such tokens say so
with `member_scope`.
"""
from __future__ import annotations

from ..domain import partners
from ..domain.errors import ValidationFailed
from ..domain.partners import PartnerApp
from ..extensions import db
from .core import Call, endpoint, ok, page_response, token_resolvers
from .schemas import portals as s

ORG = "/organizations/<int:organizationId>"
PORTALS = f"{ORG}/portals"
PORTAL_ORDER = {"createdAt": PartnerApp.created_at, "id": PartnerApp.id, "name": PartnerApp.name}
# Body field -> domain field, where they differ.
RENAMED = {"metadata": "meta"}
IGNORED = {"created_at", "updated_at", "public_id", "client_type"}


def _oauth_actor(token: str):
    found = partners.authenticate_access_token(db.session, token)
    return found.actor() if found is not None else None


if _oauth_actor not in token_resolvers:
    token_resolvers.append(_oauth_actor)


@endpoint(PORTALS, role="partnerships:read", query=s.PortalListQuery, response=s.PortalPage, tag="Partners",
          summary="List partner apps (portals)")
def list_portals(call: Call):
    def with_counts(apps: list[PartnerApp]) -> list[s.PortalOut]:
        counts = partners.connected_member_counts(call.session, [app.id for app in apps])
        return [portal_out(call, app, connected=counts.get(app.id, 0)) for app in apps]

    return page_response(call, partners.apps_query(call.organization_id, public_id=call.query.public_id),
                         s.PortalPage, with_counts, orders=PORTAL_ORDER, whole_page=True)


@endpoint(PORTALS, "POST", role="partnerships:write", body=s.PortalIn, response=s.PortalEnvelope, status=201,
          tag="Partners", summary="Create a partner app; the answer carries its client secret, shown this once")
def create_portal(call: Call):
    body: s.PortalIn = call.body
    app, secret = partners.create_app(call.session, call.organization_id, actor=call.actor, name=body.name,
                                      client_type=body.client_type, active=body.active, **_fields(body))
    return ok(s.PortalEnvelope(portal=portal_out(call, app, secret=secret)).dump(), 201)


@endpoint(f"{PORTALS}/<int:portalId>", role="partnerships:read", response=s.PortalEnvelope, tag="Partners",
          summary="Get a partner app")
def get_portal(call: Call, portalId: int):
    app = partners.get_app(call.session, call.organization_id, portalId)
    return ok(s.PortalEnvelope(portal=portal_out(call, app)).dump())


@endpoint(f"{PORTALS}/<int:portalId>", "PATCH", role="partnerships:write", body=s.PortalUpdate,
          response=s.PortalEnvelope, tag="Partners",
          summary="Change a partner app; active=false disables it and revokes its tokens")
def update_portal(call: Call, portalId: int):
    body: s.PortalUpdate = call.body
    app = partners.get_app(call.session, call.organization_id, portalId)
    if body.public_id is not None and body.public_id != app.public_id:
        raise ValidationFailed("publicId cannot change", field="publicId")
    changes = _fields(body)
    for name in ("name", "active"):
        if name in body.model_fields_set and getattr(body, name) is not None:
            changes[name] = getattr(body, name)
    app = partners.update_app(call.session, app, actor=call.actor, **changes)
    return ok(s.PortalEnvelope(portal=portal_out(call, app)).dump())


@endpoint(f"{PORTALS}/<int:portalId>/rotate-secret", "POST", role="partnerships:write", response=s.PortalEnvelope,
          tag="Partners", summary="Replace a confidential app's client secret (the old one stops working at once)")
def rotate_portal_secret(call: Call, portalId: int):
    app = partners.get_app(call.session, call.organization_id, portalId)
    secret = partners.rotate_secret(call.session, app, actor=call.actor)
    return ok(s.PortalEnvelope(portal=portal_out(call, app, secret=secret)).dump())


@endpoint(f"{PORTALS}/public/<publicId>", role="partnerships:read", response=s.PortalEnvelope, tag="Partners",
          summary="Get a partner app by its public id")
def get_portal_by_public_id(call: Call, publicId: str):
    app = partners.get_app_by_public_id(call.session, call.organization_id, publicId)
    return ok(s.PortalEnvelope(portal=portal_out(call, app)).dump())


def portal_out(call: Call, app: PartnerApp, *, secret: str | None = None, connected: int | None = None) -> s.PortalOut:
    if connected is None:
        connected = partners.connected_member_counts(call.session, [app.id]).get(app.id, 0)
    return s.PortalOut(
        id=app.id, organization_id=app.organization_id, public_id=app.public_id, name=app.name,
        custom_attributes=app.custom_attributes, links=app.links, theme=app.theme, forms=app.forms,
        metadata=app.meta, active=app.active, loyalty_program_id=app.loyalty_program_id,
        auth_redirect_url=app.auth_redirect_url, auth_valid_scopes=app.auth_valid_scopes,
        client_type=app.client_type, client_id=app.client_id, client_secret=secret, connected_members=connected,
        secret_rotated_at=app.secret_rotated_at, created_at=app.created_at, updated_at=app.updated_at)


def _fields(body: s.PortalFields) -> dict:
    """The optional fields the request carried, by their domain names (null means: leave as it is)."""
    names = set(s.PortalFields.model_fields) - IGNORED
    return {RENAMED.get(name, name): getattr(body, name) for name in names
            if name in body.model_fields_set and getattr(body, name) is not None}
