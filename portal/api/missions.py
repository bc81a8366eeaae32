"""Missions and stamp cards, members' progress, and manual increments."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from ..domain import missions
from ..domain.pagination import paginate, parse_order
from . import schemas as s
from . import serializers as out
from .core import Call, endpoint, ok
from .earning import EffectOut
from .members import resolve_member

ORG = "/organizations/<int:organizationId>"
MISSION_ORDER = {"createdAt": missions.Mission.created_at, "id": missions.Mission.id,
                 "name": missions.Mission.name}
Kind = Literal["mission", "stampcard"]
Period = Literal["none", "day", "week", "month"]
Matcher = Annotated[str, StringConstraints(max_length=4000)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
EventName = Annotated[str, StringConstraints(min_length=3, max_length=100)]
Count = Annotated[int, Field(ge=1, le=1_000_000)]


class MissionIn(s.In):
    name: s.Name
    code: Code | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    kind: Kind = "mission"
    event_type: EventName
    matcher: Matcher | None = Field(None, description="A rule expression over the event, e.g. order.total >= 20")
    goal_count: Annotated[int, Field(ge=1, le=missions.MAX_INCREMENT)]
    max_repetitions: Count | None = Field(None, description="Completions per member overall; null is unlimited")
    repetition_period: Period = "none"
    period_limit: Count | None = Field(None, description="Completions per member per repetition period")
    points_on_completion: Annotated[int, Field(ge=0, le=missions.MAX_POINTS)] = 0
    ledger_account_id: int | None = None
    active: bool = True
    valid_from: s.UtcDateTime | None = None
    valid_to: s.UtcDateTime | None = None
    tags: s.Tags = Field(default_factory=list)


class MissionUpdate(s.In):
    name: s.Name | None = None
    code: Code | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    kind: Kind | None = None
    event_type: EventName | None = None
    matcher: Matcher | None = None
    goal_count: Annotated[int, Field(ge=1, le=missions.MAX_INCREMENT)] | None = None
    max_repetitions: Count | None = None
    repetition_period: Period | None = None
    period_limit: Count | None = None
    points_on_completion: Annotated[int, Field(ge=0, le=missions.MAX_POINTS)] | None = None
    ledger_account_id: int | None = None
    active: bool | None = None
    valid_from: s.UtcDateTime | None = None
    valid_to: s.UtcDateTime | None = None
    tags: s.Tags | None = None


class MissionOut(s.Out):
    id: int
    code: str
    name: str
    description: str
    kind: str
    event_type: str
    matcher: str | None
    goal_count: int
    max_repetitions: int | None
    repetition_period: str
    period_limit: int | None
    points_on_completion: int
    ledger_account_id: int | None
    active: bool
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    tags: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime


class MissionEnvelope(s.Out):
    mission: MissionOut


class MissionPage(s.PageOut):
    results: list[MissionOut]


class MissionListQuery(s.ListQuery):
    active: bool | None = None
    kind: Kind | None = None
    event_type: str | None = None


class MemberMissionsQuery(s.ListQuery):
    active: bool | None = Field(True, description="Only running missions (default); false lists inactive ones too")
    kind: Kind | None = None


class ProgressOut(s.Out):
    mission_id: int
    mission: MissionOut
    counter: int
    goal_count: int
    remaining: int
    completions: int
    completions_in_period: int
    period_key: str
    available: bool
    last_completed_at: dt.datetime | None


class ProgressPage(s.PageOut):
    results: list[ProgressOut]


class IncrementIn(s.In):
    amount: Annotated[int, Field(ge=1, le=missions.MAX_INCREMENT)]
    system_unique_key: s.Key | None = None
    external_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    description: s.Text = ""
    tags: s.Tags = Field(default_factory=list)
    external_event_date: s.UtcDateTime | None = None


class IncrementOut(s.Out):
    progress: ProgressOut
    effects: list[EffectOut]


def mission_out(m: missions.Mission) -> MissionOut:
    return MissionOut(id=m.id, code=m.code, name=m.name, description=m.description, kind=m.kind,
                      event_type=m.event_type, matcher=m.matcher, goal_count=m.goal_count,
                      max_repetitions=m.max_repetitions, repetition_period=m.repetition_period,
                      period_limit=m.period_limit, points_on_completion=m.points_on_completion,
                      ledger_account_id=m.ledger_account_id, active=m.active, valid_from=m.valid_from,
                      valid_to=m.valid_to, tags=m.tags or [], created_at=m.created_at, updated_at=m.updated_at)


def progress_out(p: missions.Progress) -> ProgressOut:
    return ProgressOut(mission_id=p.mission.id, mission=mission_out(p.mission), counter=p.counter,
                       goal_count=p.mission.goal_count, remaining=p.remaining, completions=p.completions,
                       completions_in_period=p.completions_in_period, period_key=p.period_key,
                       available=p.available, last_completed_at=p.last_completed_at)


def _fields(body: s.In) -> dict[str, Any]:
    return {name: getattr(body, name) for name in body.model_fields_set}


@endpoint(f"{ORG}/missions", role="campaigns:read", query=MissionListQuery, response=MissionPage, tag="Missions",
          summary="List missions and stamp cards")
def list_missions(call: Call):
    q: MissionListQuery = call.query
    stmt = missions.list_query(call.organization_id, active=q.active, kind=q.kind, event_type=q.event_type)
    result = paginate(call.session, stmt, page=q.page, limit=q.limit, order=parse_order(q.order, MISSION_ORDER))
    return ok(out.page(MissionPage, result, [mission_out(m) for m in result.items]))


@endpoint(f"{ORG}/missions", "POST", role="campaigns:write", body=MissionIn, response=MissionEnvelope, status=201,
          tag="Missions", summary="Create a mission or stamp card; a bad matcher is a 422 naming line and column")
def create_mission(call: Call):
    fields = call.body.model_dump()
    name, event_type, goal = fields.pop("name"), fields.pop("event_type"), fields.pop("goal_count")
    mission = missions.create_mission(call.session, call.organization_id, actor=call.actor, name=name,
                                      event_type=event_type, goal_count=goal, **fields)
    return ok(MissionEnvelope(mission=mission_out(mission)).dump(), 201)


@endpoint(f"{ORG}/missions/<int:missionId>", role="campaigns:read", response=MissionEnvelope, tag="Missions",
          summary="Get a mission")
def get_mission(call: Call, missionId: int):
    return ok(MissionEnvelope(mission=mission_out(missions.get_mission(call.session, call.organization_id,
                                                                       missionId))).dump())


@endpoint(f"{ORG}/missions/<int:missionId>", "PATCH", role="campaigns:write", body=MissionUpdate,
          response=MissionEnvelope, tag="Missions", summary="Change a mission (fields given only)")
def update_mission(call: Call, missionId: int):
    mission = missions.get_mission(call.session, call.organization_id, missionId)
    missions.update_mission(call.session, mission, actor=call.actor, **_fields(call.body))
    return ok(MissionEnvelope(mission=mission_out(mission)).dump())


@endpoint(f"{ORG}/members/<memberId>/missions", role="members:read", query=MemberMissionsQuery,
          response=ProgressPage, tag="Missions", summary="A member's progress on each mission in the current period")
def member_missions(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    q: MemberMissionsQuery = call.query
    stmt = missions.list_query(call.organization_id, active=q.active, kind=q.kind)
    result = paginate(call.session, stmt, page=q.page, limit=q.limit,
                      order=parse_order(q.order, MISSION_ORDER, "id,asc"))
    return ok(out.page(ProgressPage, result, [progress_out(missions.progress_of(call.session, member, m))
                                              for m in result.items]))


@endpoint(f"{ORG}/members/<memberId>/missions/<int:missionId>/increment", "POST", role="members:write",
          body=IncrementIn, response=IncrementOut, tag="Missions", idempotent=True,
          summary="Add to a member's mission counter; completion mints the mission's points")
def increment(call: Call, memberId: str, missionId: int):
    member = resolve_member(call, memberId)
    mission = missions.get_mission(call.session, call.organization_id, missionId)
    result = missions.record_increment(call.session, member, mission, call.body.amount, actor=call.actor,
                                       system_unique_key=call.body.system_unique_key)
    payload = IncrementOut(progress=progress_out(missions.progress_of(call.session, member, mission)),
                           effects=[EffectOut.model_validate(e.as_dict()) for e in result.effects]).dump()
    return ok(payload, replayed=result.replayed)

