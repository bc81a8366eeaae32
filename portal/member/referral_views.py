"""Member portal referrals: the member's code and share link, the friends it
brought (names masked by the referrals engine) and the points it earned.

The referrals engine (portal.domain.referrals) owns every rule: which
programme runs, when a code is handed out, when a friend counts. The share
link is /join/<code>, the public landing in account_views.py.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..domain import self_service, earning, referrals
from ..domain.errors import DomainError
from ..extensions import db
from . import bp, current_member, member_required
from .referral_forms import CodeForm


STATUS_LABELS = {referrals.PENDING: _l("Not counted yet"), referrals.COMPLETED: _l("Counted"),
                 referrals.REJECTED: _l("Not counted")}


@bp.get("/referrals", endpoint="referrals")
@member_required
def referrals_page():
    member = current_member()
    session = db.session
    program = referrals.running_program(session, member.organization_id)
    summary = referrals.referral_summary(session, member)
    codes = [c for c in summary.codes if program is not None and c.program_id == program.id]
    return render_template("member/referrals.html", program=program, summary=summary, codes=codes,
                           status_labels=STATUS_LABELS,
                           qualifies_on_purchase=program is not None
                           and program.event_type == earning.PURCHASE_CONFIRMED,
                           code_form=CodeForm(formdata=None, prefix="code"))


@bp.post("/referrals/code", endpoint="referral_code")
@member_required
def referral_code():
    member = current_member()
    if not CodeForm(prefix="code").validate_on_submit():
        abort(400)
    try:
        with db.transaction() as session:
            code = referrals.ensure_member_code(session, member, actor=self_service.member_actor(member))
    except DomainError:  # e.g. a code drawn at the same moment by a second click
        flash(_("Your code could not be made just now. Please try again."), "error")
        return redirect(url_for("member.referrals"), 303)
    if code is None:
        flash(_("There is no referral programme at the moment."), "error")
    else:
        flash(_("Your referral code is ready: %(code)s", code=code.code), "success")
    return redirect(url_for("member.referrals"), 303)
