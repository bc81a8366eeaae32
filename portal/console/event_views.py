"""Loyalty event types in the console (the custom types integrations track, created here and
switched on or off), and the member page's missions progress and event feed.

The member page includes console/events/_member_engagement.html, which calls
`member_engagement(member)` from this blueprint's template context: the member views need
no change, and the queries run only when that page is rendered in full.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import abort, flash, redirect, url_for
from flask_login import current_user

from ..auth import staff_required
from ..domain import custom_events, missions
from ..domain.errors import DomainError
from ..domain.outbox import OutboxEvent
from ..domain.custom_events import EventType
from ..domain.members import Member
from ..domain.pagination import paginate
from ..extensions import db
from . import bp, navigation
from .engagement_forms import KIND_LABELS, ActiveForm, EventTypeForm
from .rendering import attach_error, page_arg, render_page_or_fragment

navigation.register("Event types", "console.event_type_list", "campaigns:read", "console.event_type_")

TYPES_PER_PAGE = 50
FEED_LENGTH = 20


@bp.get("/event-types")
@staff_required("campaigns:read")
def event_type_list():
    return _list_page(EventTypeForm(formdata=None))


@bp.post("/event-types")
@staff_required("campaigns:write")
def event_type_create():
    session = db.session
    form = EventTypeForm()
    if form.validate_on_submit():
        try:
            event_type = custom_events.create_event_type(session, current_user.organization_id,
                                                          name=form.name.data.strip(), actor=current_user.actor(),
                                                          description=(form.description.data or "").strip())
        except DomainError as error:
            session.rollback()
            attach_error(form, error)
        else:
            session.commit()
            flash(f"Event type {event_type.name} created: integrations can track it now.", "success")
            return redirect(url_for("console.event_type_list"))
    return _list_page(form, status=422)


@bp.post("/event-types/<name>/active")
@staff_required("campaigns:write")
def event_type_active(name: str):
    session = db.session
    event_type = custom_events.get_event_type(session, current_user.organization_id, name)
    form = ActiveForm()
    if not form.validate_on_submit():
        abort(400)
    custom_events.update_event_type(session, event_type, actor=current_user.actor(), active=form.wanted)
    session.commit()
    flash(f"{event_type.name} is now {'active' if event_type.active else 'inactive'}.", "success")
    return redirect(url_for("console.event_type_list"))


def _list_page(form: EventTypeForm, status: int = 200):
    stmt = custom_events.list_query(current_user.organization_id).order_by(EventType.name, EventType.id)
    result = paginate(db.session, stmt, page=page_arg() - 1, limit=TYPES_PER_PAGE)
    return render_page_or_fragment("console/events/list.html", "console/events/_rows.html", status=status,
                                   result=result, form=form,
                                   builtin=custom_events.BUILT_IN_EVENT_TYPES)


# --- the member page's section --------------------------------------------------------------

@dataclass
class FeedItem:
    event: OutboxEvent
    summary: str


@dataclass
class MemberEngagement:
    missions: list[tuple[missions.Progress, str | None]]  # progress, and why it cannot advance now (or None)
    feed: list[FeedItem]


def standing(progress: missions.Progress) -> str | None:
    """Why the member cannot advance on this mission now, in a word or two; None when they can."""
    mission = progress.mission
    if progress.available:
        return None
    if not mission.active:
        return "Inactive"
    if mission.max_repetitions is not None and progress.completions >= mission.max_repetitions:
        return "All completions done"
    if mission.period_limit is not None and progress.completions_in_period >= mission.period_limit:
        return f"Done this {mission.repetition_period}"
    return "Outside its dates"


def member_engagement(member: Member) -> MemberEngagement:
    """Every mission of the organisation with the member's progress (inactive ones too: their
    completions still count), and the member's latest events, newest first. Reads only."""
    session = db.session
    if member.organization_id != current_user.organization_id:
        abort(404)
    progress = missions.member_missions(session, member, active_only=False)
    latest = session.scalars(custom_events.feed_query(member.organization_id, member.id)
                             .order_by(OutboxEvent.id.desc()).limit(FEED_LENGTH))
    return MemberEngagement(missions=[(p, standing(p)) for p in progress],
                            feed=[FeedItem(e, custom_events.summarise(e)) for e in latest])


@bp.context_processor
def engagement_context():
    return {"member_engagement": member_engagement, "mission_kinds": KIND_LABELS}
