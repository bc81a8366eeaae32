"""Referral programmes in the console: the list, create and edit, switching on or off, and a
programme's page with its codes and the report of who referred whom.

The programme page holds two paged lists. Each pages through htmx from the page's own URL;
the `HX-Target` of the request (#code-rows or #report-rows) says which list to render alone.
Staff see members' full names here and link to their member pages; masked names are for the
member portal (referrals.masked_name).
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request
from flask_login import current_user
from sqlalchemy import func, select

from ..auth import staff_required
from ..domain import referrals
from ..domain.errors import NotFound
from ..domain.ledger import LedgerAccount
from ..domain.pagination import paginate
from ..domain.referrals import Referral, ReferralCode, ReferralProgram
from ..extensions import db, htmx
from ..forms import submit
from ..fragments import render_page_or_fragment
from . import bp, navigation, queries
from .referral_forms import CODE_FIELDS, PROGRAM_FIELDS, ProgramForm, ReferralCodeForm
from .rendering import newest_first, page_arg, page_of
from .resources import Resource

navigation.register("Referrals", "console.referral_list", "campaigns:read", "console.referral_")

PROGRAMS_PER_PAGE = 20
CODES_PER_PAGE = 20
REPORT_PER_PAGE = 25
PROGRAMS = Resource("referrals", "referral", referrals.get_program, fields=PROGRAM_FIELDS, id_arg="program_id",
                    known_as="program", label="Referral programmes", write_role="campaigns:write")
FRAGMENTS = {"code-rows": "console/referrals/_codes.html", "report-rows": "console/referrals/_report.html"}


@bp.get("/referrals")
@staff_required("campaigns:read")
def referral_list():
    session = db.session
    result = page_of(referrals.programs_query(current_user.organization_id), PROGRAMS_PER_PAGE,
                     *newest_first(ReferralProgram))
    ids = [p.id for p in result.items]
    return render_page_or_fragment("console/referrals/list.html", "console/referrals/_rows.html", result=result,
                                   code_counts=_code_counts(session, ids), statuses=_status_counts(session, ids))


@bp.route("/referrals/new", methods=["GET", "POST"])
@staff_required("campaigns:write")
def referral_new():
    form = ProgramForm().with_choices(*_engagement_choices())
    return PROGRAMS.new_page(form, referrals.create_program,
                             told=lambda program: f"Referral programme {program.name} created.")


@bp.get("/referrals/<int:program_id>")
@staff_required("campaigns:read")
def referral_detail(program_id: int):
    context = _detail_context(PROGRAMS.find(program_id))
    fragment = FRAGMENTS.get(htmx.target or "", "console/referrals/detail.html")
    return render_page_or_fragment("console/referrals/detail.html", fragment, **context)


@bp.route("/referrals/<int:program_id>/edit", methods=["GET", "POST"])
@staff_required("campaigns:write")
def referral_edit(program_id: int):
    program, form = PROGRAMS.find(program_id), ProgramForm()
    return PROGRAMS.edit_page(form, program, referrals.update_program, values=lambda: form.changes(program),
                              choices=lambda form: form.with_choices(*_engagement_choices(),
                                                                     current_event=program.event_type))


@bp.post("/referrals/<int:program_id>/active")
@staff_required("campaigns:write")
def referral_active(program_id: int):
    """Off, a programme hands members no code, a signup with one of its codes is refused, and its pending
    referrals do not complete on qualifying events that happen meanwhile."""
    return PROGRAMS.switch(program_id, referrals.update_program)


@bp.post("/referrals/<int:program_id>/codes")
@staff_required("campaigns:write")
def referral_add_code(program_id: int):
    program = PROGRAMS.find(program_id)
    form = ReferralCodeForm(prefix="code")
    if form.validate_on_submit():
        def give_code():
            member = _find_member(form.member.data.strip())
            return member, referrals.create_code(db.session, program, member, actor=current_user.actor(),
                                                 code=(form.code.data or "").strip() or None)

        done, given = submit(form, give_code, CODE_FIELDS)
        if done:
            member, code = given
            flash(f"Code {code.code} given to {member.display_name}.", "success")
            return redirect(PROGRAMS.url(program))
    return render_template("console/referrals/detail.html", **_detail_context(program, code_form=form)), 422


# --- helpers -----------------------------------------------------------------------------------

def _find_member(text: str):
    """A member of this organisation by id or card code; NotFound names the form's member field."""
    try:
        return queries.find_member(db.session, current_user.organization_id, text)
    except NotFound:
        raise NotFound("No member of your organisation has this id or card code", field="memberId") from None


def _engagement_choices() -> tuple[list, list]:
    return queries.engagement_choices(db.session, current_user.organization_id)


def _detail_context(program: ReferralProgram, **extra) -> dict:
    session = db.session
    status = request.args.get("status", "")
    status = status if status in referrals.STATUSES else ""
    codes_page = page_arg("codes_page")
    report_page = page_arg("report_page")
    codes = paginate(session, referrals.codes_query(program).order_by(ReferralCode.id.desc()),
                     page=codes_page - 1, limit=CODES_PER_PAGE)
    report = paginate(session, referrals.report_query(program, status=status or None).order_by(Referral.id.desc()),
                      page=report_page - 1, limit=REPORT_PER_PAGE, scalars=False)
    holders = queries.members_by_id(session, program.organization_id, [c.member_id for c in codes.items])
    # Each list's pager keeps the other list's page and the report's filter (None: left out of the URL).
    state = {"program_id": program.id, "codes_page": codes_page if codes_page > 1 else None,
             "report_page": report_page if report_page > 1 else None, "status": status or None}
    return {**PROGRAMS.layout(program), "program": program, "codes": codes, "holders": holders, "report": report,
            "report_status": status, "state": state,
            "status_counts": _status_counts(session, [program.id]).get(program.id, {}),
            "account": session.get(LedgerAccount, program.ledger_account_id) if program.ledger_account_id else None,
            "code_form": extra.pop("code_form", None) or ReferralCodeForm(prefix="code", formdata=None), **extra}


def _code_counts(session, program_ids: list[int]) -> dict[int, int]:
    if not program_ids:
        return {}
    return dict(session.execute(select(ReferralCode.program_id, func.count()).where(
        ReferralCode.program_id.in_(program_ids)).group_by(ReferralCode.program_id)).all())


def _status_counts(session, program_ids: list[int]) -> dict[int, dict[str, int]]:
    """Referrals per programme and status, with the points paid to both sides."""
    counts: dict[int, dict[str, int]] = {}
    if not program_ids:
        return counts
    rows = session.execute(select(Referral.program_id, Referral.status, func.count(),
                                  func.coalesce(func.sum(Referral.referrer_points + Referral.referred_points), 0))
                           .where(Referral.program_id.in_(program_ids))
                           .group_by(Referral.program_id, Referral.status))
    for program_id, status, count, paid in rows:
        entry = counts.setdefault(program_id, {"total": 0, "points": 0})
        entry[status] = int(count)
        entry["total"] += int(count)
        entry["points"] += int(paid)
    return counts
