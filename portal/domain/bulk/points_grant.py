"""Grant points to an audience: one amount, one reason, one idempotency key, run by the worker in batches.

Invariants:
- One grant per (organisation, key): asking again with the same key finds the job (the same amount,
  reason and audience) or raises IdempotencyKeyReused (anything else); the work is done once.
- Each member's points are minted through `points.mint_to_member` with the key `grant:<key>:<member id>`,
  so even a batch run again after a crash grants a member once (the ledger's idempotency replays it).
- Members who cannot move points (locked, inactive) are refused and counted; erased members are left out.
- A rule audience is read batch by batch as the worker reaches it (its rule decides on the members as they
  are when their batch starts); a list audience's rows are its members.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import audiences, audit, ledger, points, rules
from ..actors import Actor
from ..audiences import LIST, AudienceMember
from ..context import member_contexts
from ..errors import IdempotencyKeyReused, ValidationFailed
from ..members import Member
from . import jobs
from .jobs import BulkJob

KIND = "points-grant"
MAX_KEY_LENGTH = 100


def start_grant(session: Session, organization_id: int, *, audience_id: int, amount: int, reason: str, key: str,
                actor: Actor) -> BulkJob:
    """Queue the grant, or return the one this key started. Raises ValidationFailed, NotFound (audience),
    IdempotencyKeyReused."""
    ledger.check_amount(amount)
    reason, key = (reason or "").strip(), (key or "").strip()
    if not reason:
        raise ValidationFailed("Give a reason for the grant", field="reason")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(f"Give an idempotency key of 1 to {MAX_KEY_LENGTH} characters", field="key")
    audience = audiences.get_audience(session, organization_id, audience_id)
    params = {"audienceId": audience.id, "audienceName": audience.name, "amount": amount, "reason": reason}
    existing = jobs.find_job(session, organization_id, KIND, key)
    if existing is not None:
        if {k: existing.params.get(k) for k in ("audienceId", "amount", "reason")} != \
                {k: params[k] for k in ("audienceId", "amount", "reason")}:
            raise IdempotencyKeyReused("This key was used for another grant", field="key")
        return existing
    job = jobs.new_job(organization_id, KIND, key, actor=actor, status=jobs.QUEUED, params=params)
    job.total = _candidates_count(session, audience)
    return audit.record_added(session, actor, "bulk.grant_started", job, amount=amount, audienceId=audience.id)


@jobs.handler(KIND, read_role="ledgers:read", start_role="ledgers:write")
def run_batch(session: Session, job: BulkJob, batch_size: int) -> bool:
    audience = session.get(audiences.Audience, job.params["audienceId"])
    batch = list(session.scalars(_candidates(audience).where(Member.id > job.cursor).order_by(Member.id)
                                 .limit(batch_size)))
    rule = None if audience.kind == LIST else rules.compiled(audience.rule or "false")
    contexts = member_contexts(session, job.organization_id, batch) if rule is not None else {}
    amount = job.params["amount"]
    for member in batch:
        if rule is not None and not audiences.rule_matches(rule, contexts[member.id]):
            continue
        if not member.can_move_points:
            job.refused += 1
            continue
        movement = points.mint_to_member(session, member, amount, actor=job.actor(), reason=ledger.Reason(
            description=job.params["reason"], tags=["grant"], system_unique_key=f"grant:{job.key}:{member.id}"))
        if movement.replayed:
            job.skipped += 1
        else:
            job.created += 1
    job.done = min(job.total, job.done + len(batch))
    if batch:
        job.cursor = batch[-1].id
    finished = len(batch) < batch_size
    if finished:
        job.done = job.total
        job.report = {"membersGranted": job.created, "pointsGranted": job.created * amount,
                      "alreadyGranted": job.skipped, "refused": job.refused}
    return finished


def _candidates(audience):
    stmt = select(Member).where(Member.organization_id == audience.organization_id, Member.erased_at.is_(None))
    if audience.kind == LIST:
        stmt = stmt.join(AudienceMember, AudienceMember.member_id == Member.id).where(
            AudienceMember.audience_id == audience.id)
    return stmt


def _candidates_count(session: Session, audience) -> int:
    return session.scalar(select(func.count()).select_from(_candidates(audience).subquery())) or 0

