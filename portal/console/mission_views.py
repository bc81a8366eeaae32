"""Missions and stamp cards in the console: the list with completion counts, a mission's page,
create and edit (a matcher that does not parse is shown on its field at line and column, with
the line and a caret), a live matcher check, and switching a mission on or off.

A member's progress is shown on the member page (see event_views.member_engagement).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from ..auth import staff_required
from ..domain import custom_events, missions, rules
from ..domain.base import utcnow
from ..domain.coupons.books import fits_id
from ..domain.errors import DomainError
from ..domain.ledger import LedgerAccount
from ..domain.missions import Mission, MissionProgress
from ..domain.pagination import paginate
from ..extensions import db
from . import bp, navigation
from .engagement_forms import KIND_LABELS, MISSION_FIELDS, PERIOD_LABELS, ActiveForm, MissionForm
from .rendering import attach_error, page_arg, render_page_or_fragment

navigation.register("Missions", "console.mission_list", "campaigns:read", "console.mission_")

MISSIONS_PER_PAGE = 20


@dataclass
class RulePointer:
    """Where a matcher stopped parsing: the line's text and the column to point at."""
    line: int
    column: int
    text: str


@dataclass
class Completions:
    total: int = 0  # completions by all members
    members: int = 0  # members who completed it at least once


@bp.get("/missions")
@staff_required("campaigns:read")
def mission_list():
    session = db.session
    stmt = missions.list_query(current_user.organization_id).order_by(Mission.created_at.desc(), Mission.id.desc())
    result = paginate(session, stmt, page=page_arg() - 1, limit=MISSIONS_PER_PAGE)
    return render_page_or_fragment("console/missions/list.html", "console/missions/_rows.html", result=result,
                                   completions=completion_counts(session, [m.id for m in result.items]),
                                   kinds=KIND_LABELS, periods=PERIOD_LABELS)


@bp.route("/missions/new", methods=["GET", "POST"])
@staff_required("campaigns:write")
def mission_new():
    session = db.session
    form = _with_choices(MissionForm())
    pointer = None
    if form.validate_on_submit():
        fields = form.fields()
        try:
            mission = missions.create_mission(session, current_user.organization_id, actor=current_user.actor(),
                                              **fields)
        except DomainError as error:
            session.rollback()
            pointer = _attach_mission_error(form, error)
        else:
            session.commit()
            flash(f"{KIND_LABELS[mission.kind]} {mission.name} created.", "success")
            return redirect(url_for("console.mission_detail", mission_id=mission.id))
    return render_template("console/missions/form.html", form=form, mission=None, pointer=pointer), \
        422 if request.method == "POST" else 200


@bp.get("/missions/<int:mission_id>")
@staff_required("campaigns:read")
def mission_detail(mission_id: int):
    session = db.session
    mission = _mission(mission_id)
    return render_template("console/missions/detail.html", mission=mission, kinds=KIND_LABELS,
                           periods=PERIOD_LABELS, completions=completion_counts(session, [mission.id])[mission.id],
                           in_progress=members_in_progress(session, mission),
                           account=session.get(LedgerAccount, mission.ledger_account_id)
                           if mission.ledger_account_id else None)


@bp.route("/missions/<int:mission_id>/edit", methods=["GET", "POST"])
@staff_required("campaigns:write")
def mission_edit(mission_id: int):
    session = db.session
    mission = _mission(mission_id)
    form = MissionForm()
    pointer = None
    if request.method == "GET":
        form.fill(mission)
    elif form.validate_on_submit():
        try:
            missions.update_mission(session, mission, actor=current_user.actor(), **form.changes(mission))
        except DomainError as error:
            session.rollback()
            pointer = _attach_mission_error(form, error)
        else:
            session.commit()
            flash(f"{mission.name} saved.", "success")
            return redirect(url_for("console.mission_detail", mission_id=mission.id))
    _with_choices(form, current_event=mission.event_type)
    return render_template("console/missions/form.html", form=form, mission=mission, pointer=pointer), \
        422 if request.method == "POST" else 200


@bp.post("/missions/<int:mission_id>/active")
@staff_required("campaigns:write")
def mission_active(mission_id: int):
    session = db.session
    mission = _mission(mission_id)
    form = ActiveForm()
    if not form.validate_on_submit():
        abort(400)
    missions.update_mission(session, mission, actor=current_user.actor(), active=form.wanted)
    session.commit()
    flash(f"{mission.name} is now {'active' if mission.active else 'inactive'}.", "success")
    return redirect(url_for("console.mission_detail", mission_id=mission.id))


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
            pointer = _pointer(text, error)
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

def _mission(mission_id: int) -> Mission:
    if not fits_id(mission_id):
        abort(404)
    return missions.get_mission(db.session, current_user.organization_id, mission_id)


def _with_choices(form, current_event: str | None = None):
    """Event types a mission may listen to, and the organisation's points accounts."""
    return form.with_choices(*engagement_choices(), current_event=current_event)


def engagement_choices() -> tuple[list, list]:
    """(custom event types, points accounts) of the signed-in user's organisation."""
    session = db.session
    organization_id = current_user.organization_id
    custom = list(session.scalars(custom_events.list_query(organization_id).order_by(
        custom_events.EventType.name)))
    accounts = list(session.scalars(select(LedgerAccount).where(
        LedgerAccount.organization_id == organization_id, LedgerAccount.is_currency.is_(False),
        LedgerAccount.active.is_(True)).order_by(LedgerAccount.id)))
    return custom, accounts


def _attach_mission_error(form: MissionForm, error: DomainError) -> RulePointer | None:
    attach_error(form, error, MISSION_FIELDS)
    if isinstance(error, rules.RuleSyntaxError):
        return _pointer((form.matcher.data or "").strip(), error)
    return None


def _pointer(text: str, error: rules.RuleSyntaxError) -> RulePointer:
    lines = text.splitlines() or [""]
    line = lines[error.line - 1] if 0 < error.line <= len(lines) else ""
    return RulePointer(error.line, error.column, line)
