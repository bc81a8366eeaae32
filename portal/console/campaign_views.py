"""Campaigns in the console: list, create and edit, actions, live rule checks, and a dry-run simulation."""
from __future__ import annotations

from decimal import Decimal

from flask import abort, flash, redirect, render_template, request
from flask_login import current_user
from sqlalchemy import select

from ..auth import staff_required
from ..domain import campaigns, orders, rules, tiers
from ..domain.organizations import default_program
from ..extensions import db
from ..forms import submit, try_out
from ..fragments import render_page_or_fragment
from . import bp, navigation, queries
from .campaign_forms import ActionForm, ActionStatusForm, CampaignForm, SimulateForm
from .rendering import newest_first, page_of
from .resources import Resource

navigation.register("Campaigns", "console.campaign_list", "campaigns:read", "console.campaign_")

CAMPAIGN_FIELDS = {"eventType": "custom_event", "validTo": "valid_to", "validFrom": "valid_from",
                   "daysOfWeek": "days_of_week", "tierIds": "tier_ids", "audienceIds": "audience_ids",
                   "minSpend": "min_spend", "monthlyPointsCap": "monthly_points_cap", "timezone": "timezone",
                   "code": "code"}
CAMPAIGNS = Resource("campaigns", "campaign", campaigns.get_campaign, fields=CAMPAIGN_FIELDS)


def _choices(session):
    program = default_program(session, current_user.organization_id)
    ladder = tiers.tiers_of(session, program.id)
    groups = list(session.scalars(queries.audiences(current_user.organization_id)))
    return ladder, groups


@bp.get("/campaigns")
@staff_required("campaigns:read")
def campaign_list():
    stmt = select(campaigns.Campaign).where(campaigns.Campaign.organization_id == current_user.organization_id)
    result = page_of(stmt, 20, *newest_first(campaigns.Campaign))
    counts = {c.id: len(campaigns.actions_of(db.session, c.id)) for c in result.items}
    return render_page_or_fragment("console/campaigns/list.html", "console/campaigns/_rows.html",
                                   result=result, action_counts=counts)


@bp.route("/campaigns/new", methods=["GET", "POST"])
@staff_required("campaigns:write")
def campaign_new():
    form = CampaignForm().with_choices(*_choices(db.session))
    return CAMPAIGNS.new_page(form, campaigns.create_campaign,
                              values=lambda: dict(code=form.code.data, name=form.name.data, **form.fields()),
                              told=lambda campaign: f"Campaign {campaign.code} created. Now add its actions.")


@bp.get("/campaigns/<int:campaign_id>")
@staff_required("campaigns:read")
def campaign_detail(campaign_id: int):
    """The campaign, its actions (each switched on and off by itself) with the form adding one, and the
    form simulating an order (`campaign_simulate`)."""
    return _detail(CAMPAIGNS.find(campaign_id))


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@staff_required("campaigns:write")
def campaign_edit(campaign_id: int):
    campaign, form = CAMPAIGNS.find(campaign_id), CampaignForm().with_choices(*_choices(db.session))
    form.code.render_kw = {"readonly": True}  # a campaign's code never changes
    return CAMPAIGNS.edit_page(form, campaign, campaigns.update_campaign,
                               values=lambda: dict(name=form.name.data.strip(), **form.fields()),
                               saved=lambda: "Campaign saved.")


@bp.post("/campaigns/<int:campaign_id>/actions")
@staff_required("campaigns:write")
def campaign_add_action(campaign_id: int):
    session = db.session
    campaign = CAMPAIGNS.find(campaign_id)
    form = ActionForm(prefix="action").with_tiers(_choices(session)[0])
    if form.validate_on_submit():
        done, _ = submit(form, lambda: campaigns.add_action(
            session, campaign, actor=current_user.actor(), rules_text=form.rules_text(), effects=[form.effect()],
            name=form.name.data or "", abort_on_false=form.abort_on_false.data,
            abort_on_error=form.abort_on_error.data), form.place_error)
        if done:
            flash("Action added.", "success")
            return redirect(CAMPAIGNS.url(campaign))
    return _detail(campaign, action_form=form, status=422)


@bp.post("/campaigns/<int:campaign_id>/actions/<int:action_id>/status")
@staff_required("campaigns:write")
def campaign_action_status(campaign_id: int, action_id: int):
    session = db.session
    campaign = CAMPAIGNS.find(campaign_id)
    action = campaigns.get_action(session, campaign, action_id)
    form = ActionStatusForm()
    if not form.validate_on_submit():
        abort(400)
    with db.transaction():
        campaigns.update_action(session, action, actor=current_user.actor(), status=form.status.data)
    flash(f"Action {action.index + 1} is now {form.status.data}.", "success")
    return redirect(CAMPAIGNS.url(campaign))


@bp.post("/campaigns/rules/check")
@staff_required("campaigns:read")
def campaign_check_rules():
    """htmx: say under the rules box, line by line, whether each rule parses (and where not)."""
    lines = [line for line in (request.form.get("action-rules") or "").splitlines()]
    results = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            rules.parse(text)
            results.append({"line": number, "text": text, "ok": True})
        except rules.RuleSyntaxError as error:
            results.append({"line": number, "text": text, "ok": False,
                            "message": error.reason, "column": error.column})
    return render_template("console/campaigns/_rule_check.html", results=results)


@bp.post("/campaigns/<int:campaign_id>/simulate")
@staff_required("campaigns:read")
def campaign_simulate(campaign_id: int):
    """What confirming a one-line order of this total (category and store optional) for the member (id or card
    code) would award, with every campaign and rule that applies, not only this one; nothing is kept
    (`forms.try_out`). htmx gets the result alone (#simulation)."""
    session = db.session
    campaign = CAMPAIGNS.find(campaign_id)
    form = SimulateForm(prefix="sim")
    evaluation = None
    if form.validate_on_submit():
        def simulate():
            member = queries.find_member(session, current_user.organization_id, form.member.data.strip())
            category = (form.category.data or "").strip() or None
            data = orders.OrderInput(
                external_id="console-simulation", status=orders.CONFIRMED, total=form.total.data,
                location_code=(form.location_code.data or "").strip() or None,
                items=[orders.ItemInput(sku="SIMULATED", quantity=1, unit_price=Decimal(form.total.data),
                                        product_category_code=category)])
            return orders.simulate(session, member, data, actor=current_user.actor())

        done, outcome = try_out(form, simulate, {"memberId": "member", "code": "member"})
        evaluation = outcome if done else None
    return render_page_or_fragment("console/campaigns/detail.html", "console/campaigns/_simulation.html",
                                   status=200 if evaluation is not None else 422,
                                   **_detail_context(campaign, sim_form=form, evaluation=evaluation))


def _detail_context(campaign, **extra) -> dict:
    session = db.session
    ladder, groups = _choices(session)
    return {"campaign": campaign, "actions": campaigns.actions_of(session, campaign.id),
            "tiers_by_id": {t.id: t for t in ladder}, "audiences_by_id": {a.id: a for a in groups},
            "action_form": extra.pop("action_form", None) or ActionForm(prefix="action").with_tiers(ladder),
            "sim_form": extra.pop("sim_form", None) or SimulateForm(prefix="sim"),
            "status_form": ActionStatusForm(), "evaluation": extra.pop("evaluation", None), **extra}


def _detail(campaign, status: int = 200, **extra):
    return render_template("console/campaigns/detail.html", **_detail_context(campaign, **extra)), status
