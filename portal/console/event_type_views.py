"""Loyalty event types in the console: the custom types integrations track with `POST /events`,
created here and switched on or off; the built-in ones listed beside them.
(A member's latest events are shown on the member page, see member_views.member_engagement.)
"""
from __future__ import annotations

from flask import url_for
from flask_login import current_user

from ..auth import staff_required
from ..domain import custom_events
from ..domain.custom_events import EventType
from ..extensions import db
from ..fragments import render_page_or_fragment
from . import bp, navigation
from .event_type_forms import EventTypeForm
from .rendering import page_of
from .resources import list_with_create
from .switches import switch_active

navigation.register("Event types", "console.event_type_list", "campaigns:read", "console.event_type_")

TYPES_PER_PAGE = 50


def _list_page(form: EventTypeForm, status: int = 200):
    result = page_of(custom_events.list_query(current_user.organization_id), TYPES_PER_PAGE, EventType.name,
                     EventType.id)
    return render_page_or_fragment("console/event_types/list.html", "console/event_types/_rows.html",
                                   status=status, result=result, form=form,
                                   builtin=custom_events.BUILT_IN_EVENT_TYPES)


@list_with_create("/event-types", "event_type", EventTypeForm, _list_page, read="campaigns:read",
                  write="campaigns:write",
                  told=lambda event_type: f"Event type {event_type.name} created: integrations can track it now.")
def event_type_create(form: EventTypeForm):
    return custom_events.create_event_type(db.session, current_user.organization_id, name=form.name.data.strip(),
                                           actor=current_user.actor(),
                                           description=(form.description.data or "").strip())


@bp.post("/event-types/<name>/active")
@staff_required("campaigns:write")
def event_type_active(name: str):
    event_type = custom_events.get_event_type(db.session, current_user.organization_id, name)
    return switch_active(event_type, custom_events.update_event_type, url_for("console.event_type_list"))
