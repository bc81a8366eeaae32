"""Referral programmes, members' referral codes, and who referred whom."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from ..domain import earning, members, referrals
from ..domain.pagination import paginate, parse_order
from ..domain.referrals import Referral, ReferralCode, ReferralProgram
from . import schemas as s
from . import serializers as out
from .core import Call, endpoint, ok

ORG = "/organizations/<int:organizationId>"
PROGRAM = f"{ORG}/referral-programs/<int:referralProgramId>"
Points = Annotated[int, Field(ge=0, le=referrals.MAX_POINTS)]
Cap = Annotated[int, Field(ge=1, le=1_000_000_000)]
EventName = Annotated[str, StringConstraints(min_length=3, max_length=100)]
CodeText = Annotated[str, StringConstraints(min_length=4, max_length=40, strip_whitespace=True)]
PROGRAM_ORDER = {"createdAt": ReferralProgram.created_at, "id": ReferralProgram.id, "name": ReferralProgram.name}
CODE_ORDER = {"createdAt": ReferralCode.created_at, "id": ReferralCode.id, "uses": ReferralCode.uses}
REFERRAL_ORDER = {"createdAt": Referral.created_at, "id": Referral.id, "completedAt": Referral.completed_at}


class ProgramIn(s.In):
    name: s.Name
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    event_type: EventName = Field(earning.PURCHASE_CONFIRMED,
                                  description="The friend's qualifying event, e.g. member-purchase-order-confirmed "
                                              "(first confirmed purchase) or member-created (signup)")
    referrer_points: Points = 0
    referred_points: Points = 0
    ledger_account_id: int | None = None
    max_referrals_per_member: Cap | None = Field(None, description="Rewarded referrals per referrer; null: no cap")
    max_uses_per_code: Cap | None = Field(None, description="Rewarded referrals per code; null: no cap")
    active: bool = True
    valid_from_date: s.UtcDateTime | None = None
    valid_to_date: s.UtcDateTime | None = None


class ProgramUpdate(s.In):
    name: s.Name | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    event_type: EventName | None = None
    referrer_points: Points | None = None
    referred_points: Points | None = None
    ledger_account_id: int | None = None
    max_referrals_per_member: Cap | None = None
    max_uses_per_code: Cap | None = None
    active: bool | None = None
    valid_from_date: s.UtcDateTime | None = None
    valid_to_date: s.UtcDateTime | None = None


class ProgramOut(s.Out):
    id: int
    name: str
    description: str
    event_type: str
    referrer_points: int
    referred_points: int
    ledger_account_id: int | None
    max_referrals_per_member: int | None
    max_uses_per_code: int | None
    active: bool
    valid_from_date: dt.datetime | None
    valid_to_date: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ProgramEnvelope(s.Out):
    referral_program: ProgramOut


class ProgramPage(s.PageOut):
    results: list[ProgramOut]


class CodesIn(s.In):
    member_id: int = Field(description="The member who will share the code(s)")
    codes: Annotated[list[CodeText], Field(max_length=20)] | None = Field(
        None, description="Codes of your own choosing; one is generated when omitted")


class CodeOut(s.Out):
    id: int
    referral_program_id: int
    member_id: int
    code: str
    share_path: str
    uses: int
    rewarded: int
    created_at: dt.datetime


class CodesOut(s.Out):
    referral_codes: list[CodeOut]


class CodePage(s.PageOut):
    results: list[CodeOut]


class CodeListQuery(s.ListQuery):
    member_id: int | None = None


class MemberRef(s.Out):
    member_id: int
    loyalty_member_id: str


class ReferralOut(s.Out):
    id: int
    referral_program_id: int
    referral_code_id: int
    code: str
    referrer: MemberRef
    referred: MemberRef
    status: str
    reason: str
    referrer_points: int
    referred_points: int
    referrer_ledger_transaction_id: int | None
    referred_ledger_transaction_id: int | None
    created_at: dt.datetime
    completed_at: dt.datetime | None


class ReferralPage(s.PageOut):
    results: list[ReferralOut]


class ReportQuery(s.ListQuery):
    status: Literal["pending", "completed", "rejected"] | None = None


def program_out(p: ReferralProgram) -> ProgramOut:
    return ProgramOut(id=p.id, name=p.name, description=p.description, event_type=p.event_type,
                      referrer_points=p.referrer_points, referred_points=p.referred_points,
                      ledger_account_id=p.ledger_account_id, max_referrals_per_member=p.max_referrals_per_member,
                      max_uses_per_code=p.max_uses_per_code, active=p.active, valid_from_date=p.valid_from,
                      valid_to_date=p.valid_to, created_at=p.created_at, updated_at=p.updated_at)


def code_out(c: ReferralCode) -> CodeOut:
    return CodeOut(id=c.id, referral_program_id=c.program_id, member_id=c.member_id, code=c.code,
                   share_path=c.share_path, uses=c.uses, rewarded=c.rewarded, created_at=c.created_at)


def referral_out(row) -> ReferralOut:
    referral, code, referrer, referred = row
    return ReferralOut(
        id=referral.id, referral_program_id=referral.program_id, referral_code_id=code.id, code=code.code,
        referrer=MemberRef(member_id=referrer.id, loyalty_member_id=referrer.loyalty_member_id),
        referred=MemberRef(member_id=referred.id, loyalty_member_id=referred.loyalty_member_id),
        status=referral.status, reason=referral.reason, referrer_points=referral.referrer_points,
        referred_points=referral.referred_points,
        referrer_ledger_transaction_id=referral.referrer_transaction_id,
        referred_ledger_transaction_id=referral.referred_transaction_id, created_at=referral.created_at,
        completed_at=referral.completed_at)


def _program_fields(body: s.In, only_given: bool) -> dict[str, Any]:
    rename = {"valid_from_date": "valid_from", "valid_to_date": "valid_to"}
    names = body.model_fields_set if only_given else type(body).model_fields.keys()
    return {rename.get(n, n): getattr(body, n) for n in names}


@endpoint(f"{ORG}/referral-programs", role="campaigns:read", query=s.ListQuery, response=ProgramPage,
          tag="Referrals", summary="List referral programmes")
def list_programs(call: Call):
    q = call.query
    result = paginate(call.session, referrals.programs_query(call.organization_id), page=q.page, limit=q.limit,
                      order=parse_order(q.order, PROGRAM_ORDER))
    return ok(out.page(ProgramPage, result, [program_out(p) for p in result.items]))


@endpoint(f"{ORG}/referral-programs", "POST", role="campaigns:write", body=ProgramIn, response=ProgramEnvelope,
          status=201, tag="Referrals", summary="Create a referral programme")
def create_program(call: Call):
    fields = _program_fields(call.body, only_given=False)
    program = referrals.create_program(call.session, call.organization_id, actor=call.actor, **fields)
    return ok(ProgramEnvelope(referral_program=program_out(program)).dump(), 201)


@endpoint(PROGRAM, role="campaigns:read", response=ProgramEnvelope, tag="Referrals",
          summary="Get a referral programme")
def get_program(call: Call, referralProgramId: int):
    program = referrals.get_program(call.session, call.organization_id, referralProgramId)
    return ok(ProgramEnvelope(referral_program=program_out(program)).dump())


@endpoint(PROGRAM, "PATCH", role="campaigns:write", body=ProgramUpdate, response=ProgramEnvelope, tag="Referrals",
          summary="Change a referral programme (fields given only)")
def update_program(call: Call, referralProgramId: int):
    program = referrals.get_program(call.session, call.organization_id, referralProgramId)
    referrals.update_program(call.session, program, actor=call.actor, **_program_fields(call.body, only_given=True))
    return ok(ProgramEnvelope(referral_program=program_out(program)).dump())


@endpoint(f"{PROGRAM}/codes", "POST", role="campaigns:write", body=CodesIn, response=CodesOut, status=201,
          tag="Referrals", summary="Give a member referral codes (generated, or the codes given)")
def create_codes(call: Call, referralProgramId: int):
    program = referrals.get_program(call.session, call.organization_id, referralProgramId)
    member = members.get_member(call.session, call.organization_id, call.body.member_id)
    wanted = call.body.codes or [None]
    created = [referrals.create_code(call.session, program, member, actor=call.actor, code=code) for code in wanted]
    return ok(CodesOut(referral_codes=[code_out(c) for c in created]).dump(), 201)


@endpoint(f"{PROGRAM}/codes", role="campaigns:read", query=CodeListQuery, response=CodePage, tag="Referrals",
          summary="A programme's referral codes, optionally one member's")
def list_codes(call: Call, referralProgramId: int):
    program = referrals.get_program(call.session, call.organization_id, referralProgramId)
    q: CodeListQuery = call.query
    result = paginate(call.session, referrals.codes_query(program, q.member_id), page=q.page, limit=q.limit,
                      order=parse_order(q.order, CODE_ORDER))
    return ok(out.page(CodePage, result, [code_out(c) for c in result.items]))


@endpoint(f"{PROGRAM}/codes/<int:codeId>/referred", role="campaigns:read", query=ReportQuery,
          response=ReferralPage, tag="Referrals", summary="The members who joined with one code")
def list_referred(call: Call, referralProgramId: int, codeId: int):
    program = referrals.get_program(call.session, call.organization_id, referralProgramId)
    code = referrals.get_code(call.session, program, codeId)
    return _referral_page(call, referrals.report_query(program, status=call.query.status, code_id=code.id))


@endpoint(f"{PROGRAM}/report", role="campaigns:read", query=ReportQuery, response=ReferralPage, tag="Referrals",
          summary="Who referred whom: status, reason and points of every referral")
def report(call: Call, referralProgramId: int):
    program = referrals.get_program(call.session, call.organization_id, referralProgramId)
    return _referral_page(call, referrals.report_query(program, status=call.query.status))


def _referral_page(call: Call, stmt):
    q = call.query
    result = paginate(call.session, stmt, page=q.page, limit=q.limit, order=parse_order(q.order, REFERRAL_ORDER),
                      scalars=False)
    return ok(out.page(ReferralPage, result, [referral_out(row) for row in result.items]))
