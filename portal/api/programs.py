"""Loyalty programmes and their tiers."""
from __future__ import annotations

from ..domain import audit, organizations, tiers
from ..domain.organizations import LoyaltyProgram
from .core import Call, endpoint, in_organization, ok, page_response
from .schemas import programs as s
from .schemas.common import IdOrderQuery

ORG = "/organizations/<int:organizationId>"
PROGRAM = f"{ORG}/loyalty-programs/<int:loyaltyProgramId>"


def _program_out(p: LoyaltyProgram) -> s.ProgramOut:
    return s.ProgramOut(id=p.id, name=p.name, description=p.description, is_default=p.is_default,
                        ledger_id=p.ledger_id, points_account_id=p.points_account_id,
                        tier_points_account_id=p.tier_points_account_id, point_value=p.point_value,
                        created_at=p.created_at)


def _tier_out(t: tiers.Tier) -> s.TierOut:
    return s.TierOut(id=t.id, loyalty_program_id=t.loyalty_program_id, name=t.name, description=t.description,
                     min_points=t.min_points, color=t.color, created_at=t.created_at)


@endpoint(f"{ORG}/loyalty-programs", role="tiers:read", query=IdOrderQuery, response=s.ProgramPage, tag="Programs",
          summary="List loyalty programmes")
def list_programs(call: Call):
    stmt = in_organization(call, LoyaltyProgram)
    return page_response(call, stmt, s.ProgramPage, _program_out,
                         orders={"id": LoyaltyProgram.id, "createdAt": LoyaltyProgram.created_at}, default="id,asc")


@endpoint(f"{ORG}/loyalty-programs", "POST", role="tiers:write", body=s.ProgramIn, response=s.ProgramEnvelope,
          status=201, tag="Programs", summary="Create a programme with its own ledger and accounts")
def create_program(call: Call):
    org = organizations.get_organization(call.session, call.organization_id)
    program = organizations.create_loyalty_program(call.session, org, name=call.body.name,
                                                   description=call.body.description,
                                                   expires_in_months=call.body.points_expire_in_months)
    audit.record(call.session, call.actor, "loyalty_program.created", program)
    return ok(s.ProgramEnvelope(loyalty_program=_program_out(program)).dump(), 201)


@endpoint(PROGRAM, role="tiers:read", response=s.ProgramEnvelope, tag="Programs", summary="Get a programme")
def get_program(call: Call, loyaltyProgramId: int):
    program = organizations.get_program(call.session, call.organization_id, loyaltyProgramId)
    return ok(s.ProgramEnvelope(loyalty_program=_program_out(program)).dump())


@endpoint(PROGRAM, "PATCH", role="tiers:write", body=s.ProgramUpdate, response=s.ProgramEnvelope, tag="Programs",
          summary="Rename or describe a programme, or set what a point pays at the till (pointValue)")
def update_program(call: Call, loyaltyProgramId: int):
    program = organizations.update_program(call.session, call.organization_id, loyaltyProgramId, actor=call.actor,
                                           name=call.body.name, description=call.body.description,
                                           point_value=call.body.point_value)
    return ok(s.ProgramEnvelope(loyalty_program=_program_out(program)).dump())


@endpoint(f"{PROGRAM}/tiers", role="tiers:read", response=s.TierPage, tag="Tiers",
          summary="A programme's tiers, lowest first")
def list_tiers(call: Call, loyaltyProgramId: int):
    program = organizations.get_program(call.session, call.organization_id, loyaltyProgramId)
    ladder = tiers.tiers_of(call.session, program.id)
    return ok(s.TierPage(total_count=len(ladder), page=0, limit=max(1, len(ladder)),
                         results=[_tier_out(t) for t in ladder]).dump())


@endpoint(f"{PROGRAM}/tiers", "POST", role="tiers:write", body=s.TierIn, response=s.TierEnvelope, status=201,
          tag="Tiers", summary="Add a tier reached at minPoints tier points")
def create_tier(call: Call, loyaltyProgramId: int):
    program = organizations.get_program(call.session, call.organization_id, loyaltyProgramId)
    b: s.TierIn = call.body
    tier = tiers.create_tier(call.session, program, name=b.name, min_points=b.min_points, actor=call.actor,
                             description=b.description, color=b.color)
    return ok(s.TierEnvelope(loyalty_tier=_tier_out(tier)).dump(), 201)


@endpoint(f"{PROGRAM}/tiers/<int:tierId>", role="tiers:read", response=s.TierEnvelope, tag="Tiers",
          summary="Get a tier")
def get_tier(call: Call, loyaltyProgramId: int, tierId: int):
    tier = tiers.get_tier(call.session, call.organization_id, tierId, loyaltyProgramId)
    return ok(s.TierEnvelope(loyalty_tier=_tier_out(tier)).dump())


@endpoint(f"{PROGRAM}/tiers/<int:tierId>", "PATCH", role="tiers:write", body=s.TierUpdate, response=s.TierEnvelope,
          tag="Tiers", summary="Change a tier")
def update_tier(call: Call, loyaltyProgramId: int, tierId: int):
    tier = tiers.get_tier(call.session, call.organization_id, tierId, loyaltyProgramId)
    b: s.TierUpdate = call.body
    tiers.update_tier(call.session, tier, actor=call.actor, name=b.name, min_points=b.min_points,
                      description=b.description, color=b.color)
    return ok(s.TierEnvelope(loyalty_tier=_tier_out(tier)).dump())
