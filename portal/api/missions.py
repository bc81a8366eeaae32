"""Missions and stamp cards, members' progress, and manual increments."""
from __future__ import annotations

from typing import Any

from ..domain import missions
from .core import Call, endpoint, ok, page_response
from .members import resolve_member
from .schemas import missions as s
from .schemas.common import EffectOut, In

ORG = "/organizations/<int:organizationId>"
MISSION_ORDER = {"createdAt": missions.Mission.created_at, "id": missions.Mission.id,
                 "name": missions.Mission.name}


def mission_out(m: missions.Mission) -> s.MissionOut:
    return s.MissionOut(id=m.id, code=m.code, name=m.name, description=m.description, kind=m.kind,
                        event_type=m.event_type, matcher=m.matcher, goal_count=m.goal_count,
                        max_repetitions=m.max_repetitions, repetition_period=m.repetition_period,
                        period_limit=m.period_limit, points_on_completion=m.points_on_completion,
                        ledger_account_id=m.ledger_account_id, active=m.active, valid_from=m.valid_from,
                        valid_to=m.valid_to, tags=m.tags or [], created_at=m.created_at, updated_at=m.updated_at)


def progress_out(p: missions.Progress) -> s.ProgressOut:
    return s.ProgressOut(mission_id=p.mission.id, mission=mission_out(p.mission), counter=p.counter,
                         goal_count=p.mission.goal_count, remaining=p.remaining, completions=p.completions,
                         completions_in_period=p.completions_in_period, period_key=p.period_key,
                         available=p.available, last_completed_at=p.last_completed_at)


def _fields(body: In) -> dict[str, Any]:
    return {name: getattr(body, name) for name in body.model_fields_set}


@endpoint(f"{ORG}/missions", role="campaigns:read", query=s.MissionListQuery, response=s.MissionPage,
          tag="Missions", summary="List missions and stamp cards")
def list_missions(call: Call):
    q: s.MissionListQuery = call.query
    stmt = missions.list_query(call.organization_id, active=q.active, kind=q.kind, event_type=q.event_type)
    return page_response(call, stmt, s.MissionPage, mission_out, orders=MISSION_ORDER)


@endpoint(f"{ORG}/missions", "POST", role="campaigns:write", body=s.MissionIn, response=s.MissionEnvelope,
          status=201, tag="Missions",
          summary="Create a mission or stamp card; a bad matcher is a 422 naming line and column")
def create_mission(call: Call):
    fields = call.body.model_dump()
    name, event_type, goal = fields.pop("name"), fields.pop("event_type"), fields.pop("goal_count")
    mission = missions.create_mission(call.session, call.organization_id, actor=call.actor, name=name,
                                      event_type=event_type, goal_count=goal, **fields)
    return ok(s.MissionEnvelope(mission=mission_out(mission)).dump(), 201)


@endpoint(f"{ORG}/missions/<int:missionId>", role="campaigns:read", response=s.MissionEnvelope, tag="Missions",
          summary="Get a mission")
def get_mission(call: Call, missionId: int):
    return ok(s.MissionEnvelope(mission=mission_out(missions.get_mission(call.session, call.organization_id,
                                                                         missionId))).dump())


@endpoint(f"{ORG}/missions/<int:missionId>", "PATCH", role="campaigns:write", body=s.MissionUpdate,
          response=s.MissionEnvelope, tag="Missions", summary="Change a mission (fields given only)")
def update_mission(call: Call, missionId: int):
    mission = missions.get_mission(call.session, call.organization_id, missionId)
    missions.update_mission(call.session, mission, actor=call.actor, **_fields(call.body))
    return ok(s.MissionEnvelope(mission=mission_out(mission)).dump())


@endpoint(f"{ORG}/members/<memberId>/missions", role="members:read", query=s.MemberMissionsQuery,
          response=s.ProgressPage, tag="Missions", summary="A member's progress on each mission in the current period")
def member_missions(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    q: s.MemberMissionsQuery = call.query
    stmt = missions.list_query(call.organization_id, active=q.active, kind=q.kind)
    return page_response(call, stmt, s.ProgressPage,
                         lambda m: progress_out(missions.progress_of(call.session, member, m)),
                         orders=MISSION_ORDER, default="id,asc")


@endpoint(f"{ORG}/members/<memberId>/missions/<int:missionId>/increment", "POST", role="members:write",
          body=s.IncrementIn, response=s.IncrementOut, tag="Missions", idempotent=True,
          summary="Add to a member's mission counter; completion mints the mission's points")
def increment(call: Call, memberId: str, missionId: int):
    member = resolve_member(call, memberId)
    mission = missions.get_mission(call.session, call.organization_id, missionId)
    result = missions.record_increment(call.session, member, mission, call.body.amount, actor=call.actor,
                                       system_unique_key=call.body.system_unique_key)
    payload = s.IncrementOut(progress=progress_out(missions.progress_of(call.session, member, mission)),
                             effects=[EffectOut.model_validate(e.as_dict()) for e in result.effects]).dump()
    return ok(payload, replayed=result.replayed)

