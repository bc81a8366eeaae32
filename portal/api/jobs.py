"""Bulk jobs (member imports, points grants): read how far they got and their reports.

Each kind is read with its own role (an import with members:read, a grant with ledgers:read): a list shows
only the kinds the caller may read, and a job of another kind is 403.
"""
from __future__ import annotations

from ..domain.bulk import jobs
from ..domain.errors import PermissionDenied
from .core import Call, endpoint, ok, page_response
from .schemas import jobs as s
from .schemas.common import ListQuery

ORG = "/organizations/<int:organizationId>"


def _job_out(job: jobs.BulkJob) -> s.JobOut:
    return s.JobOut(id=job.id, kind=job.kind, status=job.status, started_by=job.started_by_label, total=job.total,
                    done=job.done, created=job.created, skipped=job.skipped, refused=job.refused, params=job.params,
                    report=job.report, error=job.error, created_at=job.created_at, started_at=job.started_at,
                    finished_at=job.finished_at)


@endpoint(f"{ORG}/jobs", role=None, query=ListQuery, response=s.JobPage, tag="Jobs",
          summary="Bulk jobs (member imports with members:read, points grants with ledgers:read)")
def list_jobs(call: Call):
    kinds = jobs.readable_kinds(call.actor)
    if not kinds:
        raise PermissionDenied("Reading jobs needs members:read or ledgers:read")
    return page_response(call, jobs.jobs_query(call.organization_id, kinds).order_by(None), s.JobPage, _job_out,
                         orders={"createdAt": jobs.BulkJob.id})


@endpoint(f"{ORG}/jobs/<int:jobId>", role=None, response=s.JobEnvelope, tag="Jobs",
          summary="A bulk job: its status, counts and report")
def get_job(call: Call, jobId: int):
    return ok(s.JobEnvelope(job=_job_out(jobs.get_readable_job(call.session, call.organization_id, jobId,
                                                               call.actor))).dump())
