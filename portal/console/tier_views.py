"""Tiers of the organisation's default programme: thresholds, members per tier, create and edit."""
from __future__ import annotations

from flask import render_template, url_for
from flask_login import current_user

from ..auth import staff_required
from ..domain import tiers
from ..domain.organizations import default_program
from ..extensions import db
from . import bp, navigation, queries
from .resources import Resource, list_with_create
from .tier_forms import TierForm

navigation.register("Tiers", "console.tier_list", "tiers:read", "console.tier_")


def _default_program_tier(session, organization_id: int, tier_id: int) -> tiers.Tier:
    """A tier of the organisation's default programme (the one the console shows)."""
    return tiers.get_tier(session, organization_id, tier_id, program_id=default_program(session, organization_id).id)


# Tiers have no page of their own: a saved tier goes back to the list.
TIERS = Resource("tiers", "tier", _default_program_tier, fields=TierForm.DOMAIN_FIELDS)


def _list_page(form: TierForm, status: int = 200):
    session = db.session
    organization_id = current_user.organization_id
    program = default_program(session, organization_id)
    total = queries.member_count(session, organization_id)
    shares = queries.tier_distribution(session, program, total)
    # Tier names are unique in a programme; the last share is "No tier".
    members_by_name = {share.name: share.count for share in shares[:-1]}
    return render_template("console/tiers/list.html", program=program, form=form,
                           ladder=tiers.tiers_of(session, program.id), members_by_name=members_by_name,
                           without_tier=shares[-1].count, members_total=total), status


@list_with_create("/tiers", "tier", TierForm, _list_page, read="tiers:read", write="tiers:write",
                  fields=TierForm.DOMAIN_FIELDS,
                  told=lambda tier: f"Tier {tier.name} created. Members reach it with {tier.min_points:,} tier points.")
def tier_create(form: TierForm):
    return tiers.create_tier(db.session, default_program(db.session, current_user.organization_id),
                             actor=current_user.actor(), **form.fields())


@bp.route("/tiers/<int:tier_id>/edit", methods=["GET", "POST"])
@staff_required("tiers:write")
def tier_edit(tier_id: int):
    tier, form = TIERS.find(tier_id), TierForm()
    return TIERS.edit_page(form, tier, tiers.update_tier, saved=lambda: f"Tier {tier.name} saved.",
                           then=url_for("console.tier_list"))
