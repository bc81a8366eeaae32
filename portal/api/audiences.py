"""Audiences (a rule over members, or a list of them) and the audiences a member is in."""
from __future__ import annotations

from functools import partial

from ..domain import audiences
from . import core
from .core import Call, in_organization, ok, page_response
from .members import resolve_member
from .schemas import audiences as s
from .schemas.common import ListQuery

ORG = "/organizations/<int:organizationId>"

# These routes were first published from api/earning.py: their endpoint names and operationIds
# (earning_<handler>) stay.
endpoint = partial(core.endpoint, name_prefix="earning")


def _audience_out(call: Call, audience: audiences.Audience, member_count: int | None = None) -> s.AudienceOut:
    if member_count is None:
        member_count = audiences.member_count(call.session, audience)
    return s.AudienceOut(id=audience.id, name=audience.name, description=audience.description, kind=audience.kind,
                         rule=audience.rule, member_count=member_count, created_at=audience.created_at)


def _audiences_out(call: Call, found: list[audiences.Audience]) -> list[s.AudienceOut]:
    """Several audiences, their member counts read together (audiences.member_counts)."""
    counts = audiences.member_counts(call.session, found)
    return [_audience_out(call, audience, counts[audience.id]) for audience in found]


@endpoint(f"{ORG}/audiences", role="campaigns:read", query=ListQuery, response=s.AudiencePage, tag="Audiences",
          summary="List audiences with member counts")
def list_audiences(call: Call):
    stmt = in_organization(call, audiences.Audience)
    return page_response(call, stmt, s.AudiencePage, lambda page: _audiences_out(call, page), whole_page=True,
                         orders={"createdAt": audiences.Audience.created_at, "name": audiences.Audience.name})


@endpoint(f"{ORG}/audiences", "POST", role="campaigns:write", body=s.AudienceIn, response=s.AudienceEnvelope,
          status=201, tag="Audiences", summary="A rule audience (expression over member) or a list audience")
def create_audience(call: Call):
    b: s.AudienceIn = call.body
    audience = audiences.create_audience(call.session, call.organization_id, name=b.name, actor=call.actor,
                                         kind=b.kind, rule=b.rule, description=b.description,
                                         member_ids=b.member_ids)
    return ok(s.AudienceEnvelope(audience=_audience_out(call, audience)).dump(), 201)


@endpoint(f"{ORG}/audiences/<int:audienceId>", role="campaigns:read", response=s.AudienceEnvelope, tag="Audiences",
          summary="An audience")
def get_audience(call: Call, audienceId: int):
    audience = audiences.get_audience(call.session, call.organization_id, audienceId)
    return ok(s.AudienceEnvelope(audience=_audience_out(call, audience)).dump())


@endpoint(f"{ORG}/audiences/<int:audienceId>", "PATCH", role="campaigns:write", body=s.AudienceUpdate,
          response=s.AudienceEnvelope, tag="Audiences", summary="Change an audience or add listed members")
def update_audience(call: Call, audienceId: int):
    audience = audiences.get_audience(call.session, call.organization_id, audienceId)
    b: s.AudienceUpdate = call.body
    audiences.update_audience(call.session, audience, actor=call.actor, name=b.name, rule=b.rule,
                              description=b.description)
    if b.add_member_ids:
        audiences.add_members(call.session, audience, b.add_member_ids, field="addMemberIds")
    return ok(s.AudienceEnvelope(audience=_audience_out(call, audience)).dump())


@endpoint(f"{ORG}/members/<memberId>/audiences", role="members:read", response=s.MemberAudiencesOut,
          tag="Audiences", summary="The audiences a member is in now")
def member_audiences(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    return ok(s.MemberAudiencesOut(results=_audiences_out(call, audiences.member_audiences(call.session, member)))
              .dump())
