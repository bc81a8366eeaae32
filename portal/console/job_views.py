"""Bulk jobs in the console: importing members from a CSV file (upload, check, confirm), granting points to
an audience, and the jobs page with each job's progress (htmx polling) and report.

The work itself runs in the worker (portal/worker.py, portal/domain/bulk/); these views start it and show
how far it got. Roles: an import needs members:write, a grant ledgers:write; reading a job needs the read
role of its kind.
"""
from __future__ import annotations

from flask import abort, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth import staff_required
from ..domain.base import fits_id
from ..domain.bulk import jobs, member_import, points_grant
from ..extensions import db
from ..forms import form_status, submit, submit_then
from ..fragments import render_page_or_fragment
from . import bp, navigation, queries
from .job_forms import GRANT_FIELDS, IMPORT_FIELDS, MAX_IMPORT_BYTES, ConfirmForm, GrantForm, ImportForm
from .rendering import page_of

navigation.register("Jobs", "console.job_list", "members:read", "console.job_")

JOBS_PER_PAGE = 20
REFUSED_ROWS_SHOWN = 200
KIND_LABELS = {member_import.KIND: "Member import", points_grant.KIND: "Points grant"}


@bp.context_processor
def job_context():
    return {"job_kind_label": lambda kind: KIND_LABELS.get(kind, kind)}


@bp.get("/jobs")
@staff_required()
def job_list():
    readable = _readable_kinds()
    if not readable:
        abort(403)
    result = page_of(jobs.jobs_query(current_user.organization_id, readable), JOBS_PER_PAGE)
    return render_page_or_fragment("console/jobs/list.html", "console/jobs/_rows.html", result=result,
                                   polling=any(job.working for job in result.items))


@bp.get("/jobs/<int:job_id>")
@staff_required()
def job_detail(job_id: int):
    job = _job(job_id)
    refused = member_import.refused_rows(db.session, job) if job.kind == member_import.KIND else []
    return render_page_or_fragment("console/jobs/detail.html", "console/jobs/_progress.html", job=job,
                                   refused=refused[:REFUSED_ROWS_SHOWN], refused_count=len(refused),
                                   confirm_form=ConfirmForm(), can_start=_can_start(job.kind))


@bp.post("/jobs/<int:job_id>/confirm")
@staff_required("members:write")
def job_confirm(job_id: int):
    job = _job(job_id)
    form = ConfirmForm()
    confirmed = submit_then(form, lambda: member_import.confirm(db.session, job, actor=current_user.actor()),
                            told=lambda _: "Import confirmed: the members are being created.",
                            then=url_for("console.job_detail", job_id=job.id))
    if confirmed:
        return confirmed
    refused = member_import.refused_rows(db.session, job)
    return render_template("console/jobs/detail.html", job=job, refused=refused[:REFUSED_ROWS_SHOWN],
                           refused_count=len(refused), confirm_form=form, can_start=True), 422


@bp.get("/jobs/<int:job_id>/refused.csv")
@staff_required("members:read")
def job_refused_csv(job_id: int):
    job = _job(job_id)
    if job.kind != member_import.KIND:
        abort(404)
    response = make_response(member_import.refused_csv(db.session, job))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="import-{job.id}-refused-rows.csv"'
    return response


@bp.route("/imports/new", methods=["GET", "POST"])
@staff_required("members:write")
def import_new():
    form = ImportForm()
    if form.validate_on_submit():
        storage = form.file.data
        done, job = submit(form, lambda: member_import.check_file(
            db.session, current_user.organization_id, storage.filename or "members.csv", storage.read(),
            actor=current_user.actor()), IMPORT_FIELDS)
        if done:
            return redirect(url_for("console.job_detail", job_id=job.id))
    return render_template("console/imports/new.html", form=form), form_status()


@bp.route("/grants/new", methods=["GET", "POST"])
@staff_required("ledgers:write")
def grant_new():
    form = GrantForm().with_audiences(list(db.session.scalars(queries.audiences(current_user.organization_id))))
    if form.validate_on_submit():
        done, job = submit(form, lambda: points_grant.start_grant(
            db.session, current_user.organization_id, audience_id=form.audience_id.data, amount=form.amount.data,
            reason=form.reason.data, key=form.key.data, actor=current_user.actor()), GRANT_FIELDS)
        if done:
            return redirect(url_for("console.job_detail", job_id=job.id))
    return render_template("console/grants/new.html", form=form), form_status()


@bp.record_once
def _allow_large_imports(state) -> None:
    """The import form takes files above the app's 1 MiB request limit. The limit is raised first thing in
    the request, before the CSRF check reads the form (under the old limit)."""
    def raise_limit():
        if request.endpoint == "console.import_new":
            request.max_content_length = MAX_IMPORT_BYTES + 64 * 1024

    state.app.before_request_funcs.setdefault(None, []).insert(0, raise_limit)


# --- helpers ---------------------------------------------------------------------------------

def _readable_kinds() -> tuple[str, ...]:
    return jobs.readable_kinds(current_user.actor())


def _can_start(kind: str) -> bool:
    return current_user.has_role(jobs.ROLES[kind][1])


def _job(job_id: int) -> jobs.BulkJob:
    if not fits_id(job_id):
        abort(404)
    return jobs.get_readable_job(db.session, current_user.organization_id, job_id, current_user.actor())
