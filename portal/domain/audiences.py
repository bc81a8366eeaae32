"""Audiences: groups of members, by rule over the member or by uploaded list.

Invariants: a rule audience's rule parses (checked at save); list membership is
one row per (audience, member); names are unique per organisation.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit, rules
from .actors import Actor
from .base import Base, IndexedOwnedRow, add_unique, assign_given, get_owned, utcnow
from .errors import DuplicateValue, NotFound, ValidationFailed

RULE, LIST = "rule", "list"
_CONTEXT_CHUNK = 500  # members whose rule contexts are held at once while counting


class NotAListAudience(ValidationFailed):
    """Members were added to a rule audience, whose rule alone says who is in it."""

    code = "not_a_list_audience"
    title = "Only list audiences take members"


class Audience(IndexedOwnedRow, Base):
    """A named group of members that campaigns (by id) and coupon books (by name, audienceKeys) can be limited to:
    a `rule` audience is whoever its `rule` (rules.py, over the member) matches, a `list` audience its members' rows."""

    __tablename__ = "audiences"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    kind: Mapped[str] = mapped_column(String(10), default=RULE)
    rule: Mapped[str | None] = mapped_column(String(4000), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AudienceMember(Base):
    __tablename__ = "audience_members"
    __table_args__ = (UniqueConstraint("audience_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    audience_id: Mapped[int] = mapped_column(ForeignKey("audiences.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)


def create_audience(session: Session, organization_id: int, *, name: str, actor: Actor, kind: str = RULE,
                    rule: str | None = None, description: str = "", member_ids: list[int] | None = None) -> Audience:
    """A rule audience (`member.city == "Berlin"`) or a list audience. Raises RuleSyntaxError, DuplicateValue."""
    _check(kind, rule)
    audience = Audience(organization_id=organization_id, name=name.strip(), kind=kind, rule=rule,
                        description=description)
    add_unique(session, audience, DuplicateValue("An audience with this name already exists", field="name"))
    if member_ids:
        add_members(session, audience, member_ids)
    audience_record(session, actor, "audience.created", audience)
    return audience


def update_audience(session: Session, audience: Audience, *, actor: Actor, name: str | None = None,
                    rule: str | None = None, description: str | None = None) -> Audience:
    if rule is not None:
        _check(audience.kind, rule)
        audience.rule = rule
    if name is not None and name.strip() != audience.name:
        if session.scalar(select(Audience.id).where(Audience.organization_id == audience.organization_id,
                                                    Audience.name == name.strip())):
            raise DuplicateValue("An audience with this name already exists", field="name")
        audience.name = name.strip()
    assign_given(audience, description=description)
    session.flush()
    audience_record(session, actor, "audience.updated", audience)
    return audience


def add_members(session: Session, audience: Audience, member_ids: list[int], *, field: str = "memberIds") -> int:
    """Add members of the audience's organisation to a list audience; returns how many were new.

    Raises NotFound naming `field` when an id is not a member of that organisation."""
    from .members import Member

    if audience.kind != LIST:
        raise NotAListAudience("Only list audiences take members", field=field)
    known = set(session.scalars(select(Member.id).where(Member.organization_id == audience.organization_id,
                                                        Member.id.in_(member_ids))))
    unknown = [m for m in member_ids if m not in known]
    if unknown:
        raise NotFound(f"Member {unknown[0]} not found", field=field)
    present = set(session.scalars(select(AudienceMember.member_id).where(AudienceMember.audience_id == audience.id)))
    new = [m for m in dict.fromkeys(member_ids) if m not in present]
    session.add_all([AudienceMember(audience_id=audience.id, member_id=m) for m in new])
    session.flush()
    return len(new)


def get_audience(session: Session, organization_id: int, audience_id: int) -> Audience:
    return get_owned(session, Audience, audience_id, organization_id, what="Audience", field="audienceId")


def rule_matches(ast, member_ctx: dict[str, Any]) -> bool:
    """Whether a rule audience's compiled rule takes the member (their context without audiences: a rule
    audience cannot depend on audiences); a rule that fails to evaluate takes nobody. One evaluation for
    membership, counts and grants."""
    try:
        return bool(rules.matches(ast, {"member": {**member_ctx, "audiences": []}}))
    except rules.RuleEvaluationError:
        return False


def member_audiences(session: Session, member, member_ctx: dict[str, Any] | None = None, *,
                     names: list[str] | None = None) -> list[Audience]:
    """The audiences the member is in now; with `names`, only those of these audiences (the same evaluation,
    for a coupon book's audienceKeys or a campaign's audiences)."""
    from .context import member_context

    stmt = select(Audience).where(Audience.organization_id == member.organization_id)
    if names is not None:
        if not names:
            return []
        stmt = stmt.where(Audience.name.in_(names))
    audiences = list(session.scalars(stmt.order_by(Audience.id)))
    if not audiences:
        return []
    listed = set(session.scalars(select(AudienceMember.audience_id).where(AudienceMember.member_id == member.id)))
    ctx = None
    found = []
    for audience in audiences:
        if audience.kind == LIST:
            if audience.id in listed:
                found.append(audience)
            continue
        if ctx is None:
            ctx = member_ctx or member_context(session, member, with_audiences=False)
        if rule_matches(rules.compiled(audience.rule or "false"), ctx):
            found.append(audience)
    return found


def member_count(session: Session, audience: Audience, *, sample_limit: int = 50_000) -> int:
    """How many members the audience has (`member_counts` of it alone)."""
    return member_counts(session, [audience], sample_limit=sample_limit)[audience.id]


def member_counts(session: Session, audiences: list[Audience], *, sample_limit: int = 50_000) -> dict[int, int]:
    """Audience id -> how many members it has, for a page of audiences at once; the statements do not depend on
    how many: the list audiences' rows are counted in one grouped query, and the rule audiences' rules evaluated
    together over one read of the organisation's members (the first `sample_limit` not erased, their contexts
    read a chunk at a time)."""
    from .context import member_contexts
    from .members import Member

    counts = {audience.id: 0 for audience in audiences}
    listed = [audience.id for audience in audiences if audience.kind == LIST]
    if listed:
        counts.update(session.execute(select(AudienceMember.audience_id, func.count())
                                      .where(AudienceMember.audience_id.in_(listed))
                                      .group_by(AudienceMember.audience_id)).all())
    by_rule: dict[int, list[tuple[int, Any]]] = {}
    for audience in audiences:
        if audience.kind != LIST:
            by_rule.setdefault(audience.organization_id, []).append(
                (audience.id, rules.compiled(audience.rule or "false")))
    for organization_id, compiled in by_rule.items():
        members = list(session.scalars(select(Member).where(Member.organization_id == organization_id,
                                                            Member.erased_at.is_(None))
                                       .order_by(Member.id).limit(sample_limit)))
        for start in range(0, len(members), _CONTEXT_CHUNK):
            for ctx in member_contexts(session, organization_id, members[start:start + _CONTEXT_CHUNK]).values():
                for audience_id, ast in compiled:
                    counts[audience_id] += rule_matches(ast, ctx)
    return counts


def _check(kind: str, rule: str | None) -> None:
    if kind not in (RULE, LIST):
        raise ValidationFailed("kind must be rule or list", field="kind")
    if kind == RULE:
        rules.parse(rule or "", field="rule")


def audience_record(session, actor, action, audience):
    audit.record(session, actor, action, audience)
