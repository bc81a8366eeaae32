"""Staff users, API keys and the audit log."""
from __future__ import annotations

from ..domain import staff
from ..domain.audit import AuditEntry
from .core import Call, endpoint, in_organization, ok, page_response
from .schemas import staff as s
from .schemas.common import IdOrderQuery

ORG = "/organizations/<int:organizationId>"


def _key_out(key: staff.ApiKey, secret: str | None = None) -> s.ApiKeyOut:
    return s.ApiKeyOut(id=key.id, name=key.name, prefix=key.prefix, roles=key.roles, created_at=key.created_at,
                       revoked_at=key.revoked_at, api_key=secret)


def _user_out(user: staff.StaffUser) -> s.StaffUserOut:
    return s.StaffUserOut(id=user.id, email=user.email, name=user.name, roles=user.roles, active=user.active,
                          created_at=user.created_at)


@endpoint(f"{ORG}/api-keys", role="users:read", query=IdOrderQuery, response=s.ApiKeyPage, tag="Staff",
          summary="List API keys (never their secrets)")
def list_api_keys(call: Call):
    stmt = in_organization(call, staff.ApiKey)
    return page_response(call, stmt, s.ApiKeyPage, _key_out,
                         orders={"createdAt": staff.ApiKey.created_at, "id": staff.ApiKey.id})


@endpoint(f"{ORG}/api-keys", "POST", role="users:write", body=s.ApiKeyIn, response=s.ApiKeyEnvelope, status=201,
          tag="Staff", summary="Create an API key; the secret is in this response only")
def create_api_key(call: Call):
    key, secret = staff.create_api_key(call.session, call.organization_id, name=call.body.name,
                                       roles=list(call.body.roles), actor=call.actor)
    return ok(s.ApiKeyEnvelope(api_key=_key_out(key, secret)).dump(), 201)


@endpoint(f"{ORG}/api-keys/<int:apiKeyId>/revoke", "POST", role="users:write", response=s.ApiKeyEnvelope,
          tag="Staff", summary="Revoke an API key (only a key whose roles you hold yourself)")
def revoke_api_key(call: Call, apiKeyId: int):
    key = staff.revoke_api_key(call.session, call.organization_id, apiKeyId, actor=call.actor)
    return ok(s.ApiKeyEnvelope(api_key=_key_out(key)).dump())


@endpoint(f"{ORG}/users", role="users:read", query=s.UserListQuery, response=s.StaffUserPage, tag="Staff",
          summary="List staff users")
def list_users(call: Call):
    stmt = in_organization(call, staff.StaffUser)
    return page_response(call, stmt, s.StaffUserPage, _user_out,
                         orders={"createdAt": staff.StaffUser.created_at, "email": staff.StaffUser.email})


@endpoint(f"{ORG}/users", "POST", role="users:write", body=s.StaffUserIn, response=s.StaffUserEnvelope, status=201,
          tag="Staff", summary="Create a staff user")
def create_user(call: Call):
    user = staff.create_staff_user(call.session, call.organization_id, email=call.body.email,
                                   password=call.body.password, roles=list(call.body.roles), actor=call.actor,
                                   name=call.body.name)
    return ok(s.StaffUserEnvelope(user=_user_out(user)).dump(), 201)


@endpoint(f"{ORG}/users/<int:userId>/deactivate", "POST", role="users:write", response=s.StaffUserEnvelope,
          tag="Staff", summary="Deactivate a staff user: no more sign-ins, and their open sessions end "
                               "(only a user whose roles you hold yourself)")
def deactivate_user(call: Call, userId: int):
    user = staff.deactivate_staff_user(call.session, call.organization_id, userId, actor=call.actor)
    return ok(s.StaffUserEnvelope(user=_user_out(user)).dump())


@endpoint(f"{ORG}/audit-log", role="users:read", query=IdOrderQuery, response=s.AuditPage, tag="Staff",
          summary="Every write by staff or the API, newest first")
def audit_log(call: Call):
    stmt = in_organization(call, AuditEntry)
    return page_response(call, stmt, s.AuditPage, lambda e: s.AuditOut(
        id=e.id, actor_kind=e.actor_kind, actor_id=e.actor_id, actor_label=e.actor_label, action=e.action,
        target_type=e.target_type, target_id=e.target_id, details=e.details, created_at=e.created_at),
        orders={"createdAt": AuditEntry.created_at, "id": AuditEntry.id}, default="id,desc")
