"""Referral programmes, members' referral codes, and who referred whom."""
from __future__ import annotations

from typing import Any

from ..domain import members, referrals
from ..domain.referrals import Referral, ReferralCode, ReferralProgram
from .core import Call, endpoint, ok, page_response
from .schemas import referrals as s
from .schemas.common import In, ListQuery

ORG = "/organizations/<int:organizationId>"
PROGRAM = f"{ORG}/referral-programs/<int:referralProgramId>"
PROGRAM_ORDER = {"createdAt": ReferralProgram.created_at, "id": ReferralProgram.id, "name": ReferralProgram.name}
CODE_ORDER = {"createdAt": ReferralCode.created_at, "id": ReferralCode.id, "uses": ReferralCode.uses}
REFERRAL_ORDER = {"createdAt": Referral.created_at, "id": Referral.id, "completedAt": Referral.completed_at}


def program_out(p: ReferralProgram) -> s.ProgramOut:
    return s.ProgramOut(id=p.id, name=p.name, description=p.description, event_type=p.event_type,
                        referrer_points=p.referrer_points, referred_points=p.referred_points,
                        ledger_account_id=p.ledger_account_id, max_referrals_per_member=p.max_referrals_per_member,
                        max_uses_per_code=p.max_uses_per_code, active=p.active, valid_from_date=p.valid_from,
                        valid_to_date=p.valid_to, created_at=p.created_at, updated_at=p.updated_at)


def code_out(c: ReferralCode) -> s.CodeOut:
    return s.CodeOut(id=c.id, referral_program_id=c.program_id, member_id=c.member_id, code=c.code,
                     share_path=c.share_path, uses=c.uses, rewarded=c.rewarded, created_at=c.created_at)


def referral_out(row) -> s.ReferralOut:
    referral, code, referrer, referred = row
    return s.ReferralOut(
        id=referral.id, referral_program_id=referral.program_id, referral_code_id=code.id, code=code.code,
        referrer=s.MemberRef(member_id=referrer.id, loyalty_member_id=referrer.loyalty_member_id),
        referred=s.MemberRef(member_id=referred.id, loyalty_member_id=referred.loyalty_member_id),
        status=referral.status, reason=referral.reason, referrer_points=referral.referrer_points,
        referred_points=referral.referred_points,
        referrer_ledger_transaction_id=referral.referrer_transaction_id,
        referred_ledger_transaction_id=referral.referred_transaction_id, created_at=referral.created_at,
        completed_at=referral.completed_at)


def _program_fields(body: In, only_given: bool) -> dict[str, Any]:
    rename = {"valid_from_date": "valid_from", "valid_to_date": "valid_to"}
    names = body.model_fields_set if only_given else type(body).model_fields.keys()
    return {rename.get(n, n): getattr(body, n) for n in names}


@endpoint(f"{ORG}/referral-programs", role="campaigns:read", query=ListQuery, response=s.ProgramPage,
          tag="Referrals", summary="List referral programmes")
def list_programs(call: Call):
    return page_response(call, referrals.programs_query(call.organization_id), s.ProgramPage, program_out,
                         orders=PROGRAM_ORDER)


@endpoint(f"{ORG}/referral-programs", "POST", role="campaigns:write", body=s.ProgramIn, response=s.ProgramEnvelope,
          status=201, tag="Referrals", summary="Create a referral programme")
def create_program(call: Call):
    fields = _program_fields(call.body, only_given=False)
    program = referrals.create_program(call.session, call.organization_id, actor=call.actor, **fields)
    return ok(s.ProgramEnvelope(referral_program=program_out(program)).dump(), 201)


@endpoint(PROGRAM, role="campaigns:read", response=s.ProgramEnvelope, tag="Referrals",
          summary="Get a referral programme")
def get_program(call: Call, referralProgramId: int):
    program = referrals.get_program(call.session, call.organization_id, referralProgramId)
    return ok(s.ProgramEnvelope(referral_program=program_out(program)).dump())


@endpoint(PROGRAM, "PATCH", role="campaigns:write", body=s.ProgramUpdate, response=s.ProgramEnvelope, tag="Referrals",
          summary="Change a referral programme (fields given only)")
def update_program(call: Call, referralProgramId: int):
    program = referrals.get_program(call.session, call.organization_id, referralProgramId)
    referrals.update_program(call.session, program, actor=call.actor, **_program_fields(call.body, only_given=True))
    return ok(s.ProgramEnvelope(referral_program=program_out(program)).dump())


@endpoint(f"{PROGRAM}/codes", "POST", role="campaigns:write", body=s.CodesIn, response=s.CodesOut, status=201,
          tag="Referrals", summary="Give a member referral codes (generated, or the codes given)")
def create_codes(call: Call, referralProgramId: int):
    program = referrals.get_program(call.session, call.organization_id, referralProgramId)
    member = members.get_member(call.session, call.organization_id, call.body.member_id)
    wanted = call.body.codes or [None]
    created = [referrals.create_code(call.session, program, member, actor=call.actor, code=code) for code in wanted]
    return ok(s.CodesOut(referral_codes=[code_out(c) for c in created]).dump(), 201)


@endpoint(f"{PROGRAM}/codes", role="campaigns:read", query=s.CodeListQuery, response=s.CodePage, tag="Referrals",
          summary="A programme's referral codes, optionally one member's")
def list_codes(call: Call, referralProgramId: int):
    program = referrals.get_program(call.session, call.organization_id, referralProgramId)
    q: s.CodeListQuery = call.query
    return page_response(call, referrals.codes_query(program, q.member_id), s.CodePage, code_out, orders=CODE_ORDER)


@endpoint(f"{PROGRAM}/codes/<int:codeId>/referred", role="campaigns:read", query=s.ReportQuery,
          response=s.ReferralPage, tag="Referrals", summary="The members who joined with one code")
def list_referred(call: Call, referralProgramId: int, codeId: int):
    program = referrals.get_program(call.session, call.organization_id, referralProgramId)
    code = referrals.get_code(call.session, program, codeId)
    return _referral_page(call, referrals.report_query(program, status=call.query.status, code_id=code.id))


@endpoint(f"{PROGRAM}/report", role="campaigns:read", query=s.ReportQuery, response=s.ReferralPage, tag="Referrals",
          summary="Who referred whom: status, reason and points of every referral")
def report(call: Call, referralProgramId: int):
    program = referrals.get_program(call.session, call.organization_id, referralProgramId)
    return _referral_page(call, referrals.report_query(program, status=call.query.status))


def _referral_page(call: Call, stmt):
    return page_response(call, stmt, s.ReferralPage, referral_out, orders=REFERRAL_ORDER, scalars=False)
