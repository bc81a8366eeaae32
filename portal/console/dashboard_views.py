"""The dashboard: the organisation's programme at a glance (members, points, tiers)."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user

from ..auth import staff_required
from ..domain import ledger, reports
from ..domain.organizations import default_program, get_organization
from ..extensions import db
from . import bp, queries


@bp.get("/")
@staff_required()
def dashboard():
    session = db.session
    organization_id = current_user.organization_id
    program = default_program(session, organization_id)
    members_total = queries.member_count(session, organization_id)
    return render_template(
        "console/dashboard.html",
        organization=get_organization(session, organization_id),
        program=program,
        members_total=members_total,
        totals=ledger.totals(session, program.points_account_id),
        tiers=queries.tier_distribution(session, program, members_total),
        week=reports.week_comparison(session, organization_id) if current_user.has_role("reports:read") else None,
    )
