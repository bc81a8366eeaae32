"""Bulk jobs: long work (a member import, a points grant) that the worker does in batches.

Invariants:
- A job is unique per (organisation, kind, key): an import's key is its file's SHA-256, a grant's the
  idempotency key staff gave. Asking again finds the job already there, so the work is done once.
- Status moves checked → queued → running → done, or to failed when a batch raises; only the
  worker moves a job past queued. An import waits in `checked` until staff confirm it; a grant is queued
  at once.
- Each batch is one transaction: it does the batch's work, moves `cursor` past the rows it did and adds to
  the counts. A worker killed mid-batch leaves the whole batch undone, and the next claim starts again at
  the cursor, so no row is done twice. Jobs are claimed with FOR UPDATE SKIP LOCKED, so two workers never
  run batches of one job at once.
- Counts: `done` rows of `total` are finished; each finished row is one of `created` (a member made,
  points granted), `skipped` (there already, nothing to do) or `refused` (a rejected row, a locked member),
  except that a grant's rows outside a rule audience are done without being any of them.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..actors import Actor
from ..base import Base, IndexedOwnedRow, get_owned, utcnow
from ..errors import Conflict, PermissionDenied

CHECKED, QUEUED, RUNNING, DONE, FAILED = "checked", "queued", "running", "done", "failed"
STATUSES = (CHECKED, QUEUED, RUNNING, DONE, FAILED)
ACTIVE_STATUSES = (QUEUED, RUNNING)


class JobNotWaiting(Conflict):
    code = "job_not_waiting"
    title = "The job is not waiting for confirmation"


class BulkJob(IndexedOwnedRow, Base):
    __tablename__ = "bulk_jobs"
    __table_args__ = (UniqueConstraint("organization_id", "kind", "key"),
                      Index("ix_bulk_jobs_status", "status", "id"))

    kind: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=CHECKED)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Who started it, as the audit log names actors.
    started_by_kind: Mapped[str] = mapped_column(String(20))
    started_by_id: Mapped[int | None] = mapped_column(default=None)
    started_by_label: Mapped[str] = mapped_column(String(254), default="")
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    # The position (file line, member id) of the last row done: the next batch starts after it.
    cursor: Mapped[int] = mapped_column(default=0)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def percent(self) -> int:
        if self.status == DONE or not self.total:
            return 100 if self.status == DONE else 0
        return min(100, self.done * 100 // self.total)

    @property
    def finished(self) -> bool:
        return self.status in (DONE, FAILED)

    @property
    def working(self) -> bool:
        """Queued or running: the worker has it, and its pages keep reloading its progress."""
        return self.status in ACTIVE_STATUSES

    def actor(self) -> Actor:
        """Who the worker acts as: the person (or key) that started the job."""
        return Actor(kind=self.started_by_kind, id=self.started_by_id, organization_id=self.organization_id,
                     label=self.started_by_label)


class BulkJobRow(Base):
    """One row of an imported file: what it said, why it was refused, what became of it."""
    __tablename__ = "bulk_job_rows"
    __table_args__ = (UniqueConstraint("job_id", "line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("bulk_jobs.id"))
    # The 1-based line of the file, as a person opening it sees it.
    line: Mapped[int]
    key: Mapped[str] = mapped_column(String(254), default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Why the row was refused (at the check or when run); None while it is good.
    problem: Mapped[str | None] = mapped_column(String(500), default=None)
    # created | skipped | refused once done.
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), default=None)


# kind -> fn(session, job, batch_size) doing one batch and returning True when the job has no rows left.
Handler = Callable[[Session, BulkJob, int], bool]
_handlers: dict[str, Handler] = {}
# kind -> (the role that reads such jobs, the role that starts them)
ROLES: dict[str, tuple[str, str]] = {}
BATCH_SIZE = 1000


def handler(kind: str, *, read_role: str, start_role: str):
    def register(fn: Handler) -> Handler:
        _handlers[kind] = fn
        ROLES[kind] = (read_role, start_role)
        return fn
    return register


def readable_kinds(actor: Actor) -> tuple[str, ...]:
    """The kinds of job the actor may see: an import's rows are members' data, a grant moves points."""
    return tuple(kind for kind, (read_role, _) in ROLES.items() if actor.has_role(read_role))


def get_readable_job(session: Session, organization_id: int, job_id: int, actor: Actor) -> BulkJob:
    """The job, if the actor may read its kind. Raises NotFound, PermissionDenied."""
    job = get_job(session, organization_id, job_id)
    if job.kind not in readable_kinds(actor):
        raise PermissionDenied(f"Reading this job needs the role {ROLES[job.kind][0]}")
    return job


def new_job(organization_id: int, kind: str, key: str, *, actor: Actor, status: str,
            params: dict[str, Any] | None = None) -> BulkJob:
    return BulkJob(organization_id=organization_id, kind=kind, key=key, status=status, params=params or {},
                   started_by_kind=actor.kind, started_by_id=actor.id, started_by_label=actor.label)


def find_job(session: Session, organization_id: int, kind: str, key: str) -> BulkJob | None:
    return session.scalars(select(BulkJob).where(BulkJob.organization_id == organization_id, BulkJob.kind == kind,
                                                 BulkJob.key == key)).first()


def get_job(session: Session, organization_id: int, job_id: int) -> BulkJob:
    return get_owned(session, BulkJob, job_id, organization_id, what="Job", field="jobId")


def queue(job: BulkJob) -> BulkJob:
    """Hand a checked job to the worker. Raises JobNotWaiting."""
    if job.status != CHECKED:
        raise JobNotWaiting(f"The job is {job.status}, not waiting for confirmation", field="jobId")
    job.status = QUEUED
    return job


def claim(session: Session) -> BulkJob | None:
    """The oldest queued or running job no other worker holds, locked for this transaction."""
    return session.scalars(select(BulkJob).where(BulkJob.status.in_(ACTIVE_STATUSES)).order_by(BulkJob.id)
                           .limit(1).with_for_update(skip_locked=True)).first()


def waiting(session: Session) -> bool:
    """Whether a job is queued or running."""
    return session.scalar(select(BulkJob.id).where(BulkJob.status.in_(ACTIVE_STATUSES)).limit(1)) is not None


def run_batch(session: Session, job: BulkJob, batch_size: int = BATCH_SIZE) -> BulkJob:
    """Do the job's next batch in the caller's transaction; the job is done when no rows are left."""
    if job.status == QUEUED:
        job.status, job.started_at = RUNNING, utcnow()
    if _handlers[job.kind](session, job, batch_size):
        job.status, job.finished_at = DONE, utcnow()
    session.flush()
    return job


def run_next_batch(session: Session, batch_size: int = BATCH_SIZE) -> BulkJob | None:
    """Claim a job and do one batch of it; None when no job waits."""
    job = claim(session)
    return run_batch(session, job, batch_size) if job else None


def fail(session: Session, job_id: int, reason: str) -> None:
    """Stop a job whose batch raised: the batch was rolled back; what earlier batches did stays."""
    job = session.get(BulkJob, job_id)
    if job is not None and not job.finished:
        job.status, job.finished_at, job.error = FAILED, utcnow(), reason[:1000]
        session.flush()


def jobs_query(organization_id: int, kinds: tuple[str, ...]):
    """The organisation's jobs of these kinds, newest first."""
    return (select(BulkJob).where(BulkJob.organization_id == organization_id, BulkJob.kind.in_(kinds))
            .order_by(BulkJob.id.desc()))
