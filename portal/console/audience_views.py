"""Audiences in the console: the list with member counts, rule audiences (rule errors shown at
their line and column) and list audiences built from an uploaded CSV of card codes or member ids.

An upload is all or nothing: when any row names no member of the organisation, the rows are
reported by line and nobody is added (add_members refuses unknown members as a whole too).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, render_template
from flask_login import current_user
from sqlalchemy import select

from ..auth import staff_required
from ..domain import audiences, audit
from ..domain.audiences import LIST, Audience, AudienceMember
from ..domain.base import fits_id
from ..domain.members import CARDCODE, Identifier, Member, normalise_code
from ..extensions import db
from ..forms import form_status, submit
from ..fragments import render_page_or_fragment
from . import bp, navigation, queries
from .audience_forms import AUDIENCE_FIELDS, AddMembersForm, AudienceEditForm, AudienceForm
from .rendering import page_of, refusal_pointer
from .resources import Resource
from .uploads import UploadUnreadable, read_column

navigation.register("Audiences", "console.audience_list", "campaigns:read", "console.audience_")

AUDIENCES_PER_PAGE = 20
MEMBERS_PER_PAGE = 25
MEMBER_HEADERS = ("cardcode", "card_code", "card code", "code", "memberid", "member_id", "member id", "id")
REPORT_ROWS_SHOWN = 200
_CHUNK = 500
AUDIENCES = Resource("audiences", "audience", audiences.get_audience, fields=AUDIENCE_FIELDS, label="Audiences",
                     write_role="campaigns:write")


@dataclass
class RowProblem:
    line: int
    value: str
    message: str


@bp.get("/audiences")
@staff_required("campaigns:read")
def audience_list():
    result = page_of(queries.audiences(current_user.organization_id), AUDIENCES_PER_PAGE)
    counts = audiences.member_counts(db.session, result.items)
    return render_page_or_fragment("console/audiences/list.html", "console/audiences/_rows.html", result=result,
                                   counts=counts)


@bp.route("/audiences/new", methods=["GET", "POST"])
@staff_required("campaigns:write")
def audience_new():
    form = AudienceForm()
    problems, pointer = [], None
    if form.validate_on_submit():
        member_ids = []
        if form.kind.data == LIST and form.file.data:
            member_ids, problems = _uploaded_members(form)
        if member_ids is not None:
            done, outcome = submit(form, lambda: audiences.create_audience(
                db.session, current_user.organization_id, name=form.name.data, actor=current_user.actor(),
                kind=form.kind.data, rule=form.rule_text(), description=(form.description.data or "").strip(),
                member_ids=member_ids), AUDIENCE_FIELDS)
            if done:
                flash(f"Audience {outcome.name} created"
                      + (f" with {len(member_ids):,} members." if form.kind.data == LIST else "."), "success")
                return redirect(AUDIENCES.url(outcome))
            pointer = refusal_pointer(form.rule, outcome)
    return render_template("console/audiences/new.html", form=form, problems=problems[:REPORT_ROWS_SHOWN],
                           problem_count=len(problems), pointer=pointer), form_status()


@bp.get("/audiences/<int:audience_id>")
@staff_required("campaigns:read")
def audience_detail(audience_id: int):
    audience = AUDIENCES.find(audience_id)
    return render_page_or_fragment("console/audiences/detail.html", "console/audiences/_members.html",
                                   **_detail_context(audience))


@bp.route("/audiences/<int:audience_id>/edit", methods=["GET", "POST"])
@staff_required("campaigns:write")
def audience_edit(audience_id: int):
    audience, form = AUDIENCES.find(audience_id), AudienceEditForm()
    return AUDIENCES.edit_page(form, audience, audiences.update_audience, values=lambda: dict(
        name=form.name.data, description=(form.description.data or "").strip(),
        rule=(form.rule.data or "").strip() if audience.kind != LIST else None),
        saved=lambda: f"Audience {audience.name} saved.", rule_field=form.rule)


@bp.post("/audiences/<int:audience_id>/members")
@staff_required("campaigns:write")
def audience_add_members(audience_id: int):
    audience = AUDIENCES.find(audience_id)
    form = AddMembersForm(prefix="add")
    problems = []
    if form.validate_on_submit():
        member_ids, problems = _uploaded_members(form)
        if member_ids == []:
            form.file.errors = [*form.file.errors, "The file lists no members."]
        elif member_ids:
            done, added = submit(form, lambda: _add_members(audience, member_ids), AUDIENCE_FIELDS)
            if done:
                flash(f"{added:,} members added ({len(member_ids) - added:,} were already in the audience).",
                      "success")
                return redirect(AUDIENCES.url(audience))
    return render_template("console/audiences/detail.html",
                           **_detail_context(audience, add_form=form, problems=problems[:REPORT_ROWS_SHOWN],
                                             problem_count=len(problems))), 422


# --- helpers ---------------------------------------------------------------------------------

def _add_members(audience: Audience, member_ids: list[int]) -> int:
    added = audiences.add_members(db.session, audience, member_ids)
    audit.record(db.session, current_user.actor(), "audience.members_added", audience, added=added,
                 listed=len(member_ids))
    return added


def _uploaded_members(form) -> tuple[list[int] | None, list[RowProblem]]:
    """The member ids of the form's CSV file, or None with the reason on the file field: the file
    cannot be read, or rows name nobody (those rows come back too, for the report)."""
    try:
        member_ids, problems = _members_in_upload(form.file.data, form.id_type.data)
    except UploadUnreadable as problem:
        form.file.errors = [*form.file.errors, str(problem)]
        return None, []
    if problems:
        form.file.errors = [*form.file.errors, f"{len(problems):,} rows name no member: nobody was added."]
        return None, problems
    return member_ids, []


def _members_in_upload(storage, id_type: str) -> tuple[list[int], list[RowProblem]]:
    """The member ids a CSV of card codes or member ids names, and its rows that name nobody."""
    column = read_column(storage, MEMBER_HEADERS)
    organization_id = current_user.organization_id
    if id_type == CARDCODE:
        keys = [normalise_code(CARDCODE, value) for value in column.values]
        found = {}
        wanted = sorted({k for k in keys if k})
        for start in range(0, len(wanted), _CHUNK):
            found.update(db.session.execute(select(Identifier.code, Identifier.member_id).where(
                Identifier.organization_id == organization_id, Identifier.type == CARDCODE,
                Identifier.code.in_(wanted[start:start + _CHUNK]))).all())
        missing = "no member has this card code"
    else:
        keys = [int(v) if v.isdigit() and fits_id(int(v)) else None for v in column.values]
        wanted = sorted({k for k in keys if k is not None})
        found = {}
        for start in range(0, len(wanted), _CHUNK):
            found.update((i, i) for i in db.session.scalars(select(Member.id).where(
                Member.organization_id == organization_id, Member.id.in_(wanted[start:start + _CHUNK]))))
        missing = "no member has this id"
    ids, problems = [], []
    for index, (value, key) in enumerate(zip(column.values, keys)):
        if key in found:
            ids.append(found[key])
        else:
            problems.append(RowProblem(column.line_of(index), value, "empty row" if not value else missing))
    return list(dict.fromkeys(ids)), problems


def _detail_context(audience: Audience, **extra) -> dict:
    session = db.session
    members = None
    if audience.kind == LIST:
        stmt = (select(Member).join(AudienceMember, AudienceMember.member_id == Member.id)
                .where(AudienceMember.audience_id == audience.id,
                       Member.organization_id == current_user.organization_id))
        members = page_of(stmt, MEMBERS_PER_PAGE, Member.id)
    ids = [m.id for m in members.items] if members else []
    return {**AUDIENCES.layout(audience), "audience": audience, "count": audiences.member_count(session, audience),
            "members": members,
            "card_codes": queries.card_codes(session, ids),
            "add_form": extra.pop("add_form", None) or AddMembersForm(prefix="add", formdata=None),
            "problems": extra.pop("problems", []), "problem_count": extra.pop("problem_count", 0), **extra}
