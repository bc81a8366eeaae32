"""Orders in the console: the filtered list, one order with its lines and everything it caused,
and the staff actions on it (confirm, cancel, return all or part), each with a reason.

Reading needs orders:read; acting needs orders:write. Another organisation's order is a 404.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import flash, redirect, request, url_for
from flask_login import current_user

from ..auth import staff_required
from ..domain import campaigns, members, missions, orders, tiers
from ..domain.errors import NotFound, ValidationFailed
from ..domain.orders import PurchaseOrder
from ..domain.organizations import Organization, default_program
from ..domain.pagination import Page
from ..extensions import db
from ..forms import submit
from ..fragments import render_page_or_fragment
from . import bp, navigation, queries
from .order_forms import ACTION_DONE, ACTION_LABELS, OrderActionForm, OrderFilterForm
from .rendering import newest_first, page_of

ORDERS_PER_PAGE = 25
ACTION_FIELDS = {"returnedTotal": "returned_total", "status": "action"}

navigation.register("Orders", "console.order_list", "orders:read", "console.order_")


@bp.get("/orders")
@staff_required("orders:read")
def order_list():
    session = db.session
    organization_id = current_user.organization_id
    form = OrderFilterForm(formdata=request.args).with_stores(orders.location_codes(session, organization_id))
    result, error = Page(total=0, page=0, limit=ORDERS_PER_PAGE, items=[]), None
    if form.validate():
        try:
            stmt = orders.list_query(organization_id, member=form.member.data, status=form.status.data or None,
                                     location_code=form.store.data or None, **_day_bounds(form))
            result = page_of(stmt, ORDERS_PER_PAGE, *newest_first(PurchaseOrder))
        except ValidationFailed as failure:
            error = failure.message
    else:
        error = "; ".join(f"{form[name].label.text}: {messages[0]}" for name, messages in form.errors.items())
    return render_page_or_fragment("console/orders/list.html", "console/orders/_rows.html", form=form,
                                   result=result, filter_error=error, params=_filter_params(),
                                   names=queries.members_by_id(session, organization_id, [o.member_id for o in result.items]))


@bp.get("/orders/<int:order_id>")
@staff_required("orders:read")
def order_detail(order_id: int):
    return _order_page(_order(order_id))


@bp.post("/orders/<int:order_id>/action")
@staff_required("orders:write")
def order_act(order_id: int):
    order = _order(order_id)
    form = OrderActionForm()
    if form.validate_on_submit():
        action = form.action.data
        done, result = submit(form, lambda: orders.act_on_order(
            db.session, order, action, reason=form.reason.data, actor=current_user.actor(),
            returned_total=form.returned_total.data), ACTION_FIELDS)
        if done:
            taken = f"; {result.points_taken_back:,} points taken back" if result.points_taken_back else ""
            debt = f" ({result.debt_recorded:,} already spent, recorded as a debt)" if result.debt_recorded else ""
            flash(f"Order {order.external_id} {ACTION_DONE[action]}{taken}{debt}.", "success")
            return redirect(url_for("console.order_detail", order_id=order.id))
    return _order_page(order, action_form=form, status=422)


def _order(order_id: int) -> PurchaseOrder:
    return orders.get_order(db.session, current_user.organization_id, order_id)


def _order_page(order: PurchaseOrder, *, action_form: OrderActionForm | None = None, status: int = 200):
    session = db.session
    program = default_program(session, order.organization_id)
    effects = orders.effects_of(session, order)
    campaign_ids = {e.campaign_id for e in effects.effects if e.campaign_id}
    mission_ids = {e.mission_id for e in effects.effects if e.mission_id is not None}
    return render_page_or_fragment(
        "console/orders/detail.html", "console/orders/detail.html", status=status,
        order=order, member=session.get(members.Member, order.member_id), effects=effects,
        campaign_names={c: _name(lambda: campaigns.get_campaign(session, order.organization_id, c)) for c in campaign_ids},
        mission_names={m: _name(lambda: missions.get_mission(session, order.organization_id, m)) for m in mission_ids},
        tier_by_id={t.id: t for t in tiers.tiers_of(session, program.id)},
        points_account_id=program.points_account_id,
        actions=orders.actions_for(order), action_labels=ACTION_LABELS,
        action_form=action_form or OrderActionForm(formdata=None))


def _name(load) -> str | None:
    """A linked object's name, or None once it is gone."""
    try:
        return load().name
    except NotFound:
        return None


def _day_bounds(form: OrderFilterForm) -> dict[str, dt.datetime | None]:
    """The filter's days, read in the organisation's timezone; "To" includes its whole day."""
    zone = ZoneInfo(db.session.get(Organization, current_user.organization_id).timezone)
    start = lambda day: dt.datetime.combine(day, dt.time(0), tzinfo=zone)  # noqa: E731
    return {"since": start(form.since.data) if form.since.data else None,
            "until": start(form.until.data + dt.timedelta(days=1)) if form.until.data else None}


def _filter_params() -> dict[str, str]:
    return {k: v for k, v in request.args.items() if k in ("member", "status", "since", "until", "store") and v}


def money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


@bp.context_processor
def order_context():
    return {"money": money}
