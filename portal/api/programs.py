"""Loyalty programmes and their tiers."""
from __future__ import annotations

from sqlalchemy import select

from ..domain import audit, organizations, tiers
from ..domain.organizations import LoyaltyProgram
from . import schemas as s
from . import serializers as out
from .core import Call, endpoint, ok, page_response

ORG = "/organizations/<int:organizationId>"
PROGRAM = f"{ORG}/loyalty-programs/<int:loyaltyProgramId>"


@endpoint(f"{ORG}/loyalty-programs", role="tiers:read", query=s.IdOrderQuery, response=s.ProgramPage, tag="Programs",
          summary="List loyalty programmes")
def list_programs(call: Call):
    stmt = select(LoyaltyProgram).where(LoyaltyProgram.organization_id == call.organization_id)
    return page_response(call, stmt, s.ProgramPage, out.program,
                         orders={"id": LoyaltyProgram.id, "createdAt": LoyaltyProgram.created_at}, default="id,asc")


@endpoint(f"{ORG}/loyalty-programs", "POST", role="tiers:write", body=s.ProgramIn, response=s.ProgramEnvelope,
          status=201, tag="Programs", summary="Create a programme with its own ledger and accounts")
def create_program(call: Call):
    org = organizations.get_organization(call.session, call.organization_id)
    program = organizations.create_loyalty_program(call.session, org, name=call.body.name,
                                                   description=call.body.description,
                                                   expires_in_months=call.body.points_expire_in_months)
    audit.record(call.session, call.actor, "loyalty_program.created", program)
    return ok(s.ProgramEnvelope(loyalty_program=out.program(program)).dump(), 201)


@endpoint(PROGRAM, role="tiers:read", response=s.ProgramEnvelope, tag="Programs", summary="Get a programme")
def get_program(call: Call, loyaltyProgramId: int):
    program = organizations.get_program(call.session, call.organization_id, loyaltyProgramId)
    return ok(s.ProgramEnvelope(loyalty_program=out.program(program)).dump())


@endpoint(PROGRAM, "PATCH", role="tiers:write", body=s.ProgramUpdate, response=s.ProgramEnvelope, tag="Programs",
          summary="Rename or describe a programme")
def update_program(call: Call, loyaltyProgramId: int):
    program = organizations.update_program(call.session, call.organization_id, loyaltyProgramId, actor=call.actor,
                                           name=call.body.name, description=call.body.description)
    return ok(s.ProgramEnvelope(loyalty_program=out.program(program)).dump())


@endpoint(f"{PROGRAM}/tiers", role="tiers:read", response=s.TierPage, tag="Tiers",
          summary="A programme's tiers, lowest first")
def list_tiers(call: Call, loyaltyProgramId: int):
    program = organizations.get_program(call.session, call.organization_id, loyaltyProgramId)
    ladder = tiers.tiers_of(call.session, program.id)
    return ok(s.TierPage(total_count=len(ladder), page=0, limit=max(1, len(ladder)),
                         results=[out.tier(t) for t in ladder]).dump())


@endpoint(f"{PROGRAM}/tiers", "POST", role="tiers:write", body=s.TierIn, response=s.TierEnvelope, status=201,
          tag="Tiers", summary="Add a tier reached at minPoints tier points")
def create_tier(call: Call, loyaltyProgramId: int):
    program = organizations.get_program(call.session, call.organization_id, loyaltyProgramId)
    b: s.TierIn = call.body
    tier = tiers.create_tier(call.session, program, name=b.name, min_points=b.min_points, actor=call.actor,
                             description=b.description, color=b.color)
    return ok(s.TierEnvelope(loyalty_tier=out.tier(tier)).dump(), 201)


@endpoint(f"{PROGRAM}/tiers/<int:tierId>", role="tiers:read", response=s.TierEnvelope, tag="Tiers",
          summary="Get a tier")
def get_tier(call: Call, loyaltyProgramId: int, tierId: int):
    tier = tiers.get_tier(call.session, call.organization_id, tierId, loyaltyProgramId)
    return ok(s.TierEnvelope(loyalty_tier=out.tier(tier)).dump())


@endpoint(f"{PROGRAM}/tiers/<int:tierId>", "PATCH", role="tiers:write", body=s.TierUpdate, response=s.TierEnvelope,
          tag="Tiers", summary="Change a tier")
def update_tier(call: Call, loyaltyProgramId: int, tierId: int):
    tier = tiers.get_tier(call.session, call.organization_id, tierId, loyaltyProgramId)
    b: s.TierUpdate = call.body
    tiers.update_tier(call.session, tier, actor=call.actor, name=b.name, min_points=b.min_points,
                      description=b.description, color=b.color)
    return ok(s.TierEnvelope(loyalty_tier=out.tier(tier)).dump())
