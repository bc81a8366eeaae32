"""Missions and stamp cards in the console: the list with completion counts, a mission's page,
create and edit (a matcher that does not parse is shown on its field at line and column, with
the line and a caret), a live matcher check, and switching a mission on or off.

A member's progress is shown on the member page (see member_views.member_engagement).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import render_template, request
from flask_login import current_user
from sqlalchemy import func, select

from ..auth import staff_required
from ..domain import missions, rules
from ..domain.base import utcnow
from ..domain.ledger import LedgerAccount
from ..domain.missions import Mission, MissionProgress
from ..extensions import db
from ..fragments import render_page_or_fragment
from . import bp, navigation, queries
from .mission_forms import KIND_LABELS, MISSION_FIELDS, PERIOD_LABELS, MissionForm
from .rendering import newest_first, page_of, rule_pointer
from .resources import Resource

navigation.register("Missions", "console.mission_list", "campaigns:read", "console.mission_")

MISSIONS_PER_PAGE = 20
MISSIONS = Resource("missions", "mission", missions.get_mission, fields=MISSION_FIELDS, label="Missions",
                    write_role="campaigns:write")


@dataclass
class Completions:
    total: int = 0  # completions by all members
    members: int = 0  # members who completed it at least once


@bp.get("/missions")
@staff_required("campaigns:read")
def mission_list():
    session = db.session
    result = page_of(missions.list_query(current_user.organization_id), MISSIONS_PER_PAGE, *newest_first(Mission))
    return render_page_or_fragment("console/missions/list.html", "console/missions/_rows.html", result=result,
                                   completions=completion_counts(session, [m.id for m in result.items]),
                                   kinds=KIND_LABELS, periods=PERIOD_LABELS)


@bp.route("/missions/new", methods=["GET", "POST"])
@staff_required("campaigns:write")
def mission_new():
    form = _with_choices(MissionForm())
    return MISSIONS.new_page(form, missions.create_mission, rule_field=form.matcher,
                             told=lambda mission: f"{KIND_LABELS[mission.kind]} {mission.name} created.")


@bp.get("/missions/<int:mission_id>")
@staff_required("campaigns:read")
def mission_detail(mission_id: int):
    session = db.session
    mission = MISSIONS.find(mission_id)
    return render_template("console/missions/detail.html", **MISSIONS.layout(mission), mission=mission,
                           kinds=KIND_LABELS, periods=PERIOD_LABELS,
                           completions=completion_counts(session, [mission.id])[mission.id],
                           in_progress=members_in_progress(session, mission),
                           account=session.get(LedgerAccount, mission.ledger_account_id)
                           if mission.ledger_account_id else None)


@bp.route("/missions/<int:mission_id>/edit", methods=["GET", "POST"])
@staff_required("campaigns:write")
def mission_edit(mission_id: int):
    mission, form = MISSIONS.find(mission_id), MissionForm()
    return MISSIONS.edit_page(form, mission, missions.update_mission, values=lambda: form.changes(mission),
                              rule_field=form.matcher,
                              choices=lambda form: _with_choices(form, current_event=mission.event_type))


@bp.post("/missions/<int:mission_id>/active")
@staff_required("campaigns:write")
def mission_active(mission_id: int):
    """Off, a mission counts no events and takes no steps by hand; the completions it gave stay, and
    the member page still shows its progress."""
    return MISSIONS.switch(mission_id, missions.update_mission)


@bp.post("/missions/matcher/check")
@staff_required("campaigns:read")
def mission_check_matcher():
    """htmx: under the matcher box, whether it parses, and where not."""
    text = (request.form.get("matcher") or "").strip()
    result, pointer = None, None
    if text:
        try:
            missions.compile_matcher(text)
            result = "ok"
        except rules.RuleSyntaxError as error:
            result = error.message
            pointer = rule_pointer(text, error)
    return render_template("console/missions/_matcher_check.html", result=result, pointer=pointer)


# --- read-only figures ---------------------------------------------------------------------

def completion_counts(session, mission_ids: list[int]) -> dict[int, Completions]:
    """Completions per mission and how many members completed it: one grouped query over the
    overall progress rows (they count every completion, whatever the period)."""
    counts = {mission_id: Completions() for mission_id in mission_ids}
    if mission_ids:
        rows = session.execute(
            select(MissionProgress.mission_id, func.coalesce(func.sum(MissionProgress.completions), 0),
                   func.count(MissionProgress.id).filter(MissionProgress.completions > 0))
            .where(MissionProgress.mission_id.in_(mission_ids), MissionProgress.period_key == missions.OVERALL)
            .group_by(MissionProgress.mission_id))
        for mission_id, total, completed_by in rows:
            counts[mission_id] = Completions(int(total), int(completed_by))
    return counts


def members_in_progress(session, mission: Mission) -> int:
    """Members with a count toward the goal in the current period."""
    key = missions.period_key(mission.repetition_period, utcnow())
    return session.scalar(select(func.count()).select_from(MissionProgress).where(
        MissionProgress.mission_id == mission.id, MissionProgress.period_key == key,
        MissionProgress.counter > 0)) or 0


# --- helpers -----------------------------------------------------------------------------------

def _with_choices(form, current_event: str | None = None):
    """Event types a mission may listen to, and the organisation's points accounts."""
    return form.with_choices(*queries.engagement_choices(db.session, current_user.organization_id),
                             current_event=current_event)
