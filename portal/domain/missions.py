"""Missions and stamp cards: count matching events toward a goal, reward completion.

A mission listens to one event type (`member-purchase-order-confirmed`, a
custom type...), optionally filtered by a matcher written in the rule language
(`order.total >= 20`, over the campaigns' context from portal/domain/context.py).
Each matching event adds one to the member's counter (a manual increment or a
campaign effect may add more); reaching `goal_count` completes the mission once,
mints `points_on_completion` and starts the counter again. A stamp card is a
mission shown as a card: one stamp per matching event.

Invariants:
- A member completes a mission at most `max_repetitions` times overall (None:
  unlimited) and at most `period_limit` times per repetition period (day, ISO
  week or month, in UTC); progress toward the goal does not carry over into a
  new period. These hold under any number of concurrent events: every change to
  a member's progress first locks the member's overall progress row
  (SELECT ... FOR UPDATE on PostgreSQL; SQLite transactions start with BEGIN
  IMMEDIATE), and the rows are unique per (mission, member, period key).
- Progress that cannot lead to another completion (a limit is reached) is not
  counted; the counter is then 0.
- Completion points are minted once per completion range under a system key
  derived from the completion numbers (counting on past completions taken back
  by returned purchases), so a completion cannot pay twice.
- A manual increment with a systemUniqueKey happens once; a replay returns the
  first call's effects.
- The matcher is stored as text and AST, parsed (and so validated) when saved.
- A dry run (purchase simulation) reads progress and writes nothing.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit, earning, outbox, idempotency, ledger, custom_events, points, rules
from .actors import Actor
from .base import Base, IndexedOwnedRow, OwnedRow, ValidityWindow, get_owned, utcnow
from .checks import ledger_account_reference, reject_unknown, required_name, whole_number
from .context import event_context
from .errors import Conflict, DomainError, DuplicateValue, NotFound, ValidationFailed
from .ledger import Reason
from .members import CODE_ALPHABET, Member

MISSION, STAMPCARD = "mission", "stampcard"
KINDS = (MISSION, STAMPCARD)
NO_PERIOD, DAY, WEEK, MONTH = "none", "day", "week", "month"
PERIODS = (NO_PERIOD, DAY, WEEK, MONTH)
OVERALL = "all"  # the period key of the row that holds overall completions (and the counter when no period)
MAX_INCREMENT = 10_000
MAX_POINTS = 10_000_000
MAX_LIMIT = 1_000_000  # repetitions, and completions per period


class Mission(IndexedOwnedRow, ValidityWindow, Base):
    __tablename__ = "missions"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    kind: Mapped[str] = mapped_column(String(16), default=MISSION)
    event_type: Mapped[str] = mapped_column(String(100))
    matcher: Mapped[str | None] = mapped_column(String(4000), default=None)
    matcher_ast: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    goal_count: Mapped[int]
    max_repetitions: Mapped[int | None] = mapped_column(default=None)
    repetition_period: Mapped[str] = mapped_column(String(8), default=NO_PERIOD)
    period_limit: Mapped[int | None] = mapped_column(default=None)
    points_on_completion: Mapped[int] = mapped_column(default=0)
    ledger_account_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_accounts.id"), default=None)
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MissionProgress(OwnedRow, Base):
    """A member's progress on a mission in one period; the OVERALL row also counts all completions."""

    __tablename__ = "mission_progress"
    __table_args__ = (UniqueConstraint("mission_id", "member_id", "period_key"),)

    mission_id: Mapped[int] = mapped_column(ForeignKey("missions.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    period_key: Mapped[str] = mapped_column(String(16))
    counter: Mapped[int] = mapped_column(default=0)
    completions: Mapped[int] = mapped_column(default=0)
    # Completions undone by returned purchases (take_back): completion keys count on past them, so a
    # completion earned again after a return pays again.
    completions_taken_back: Mapped[int] = mapped_column(default=0, server_default="0")
    last_completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MissionNotAvailable(Conflict):
    code = "mission_not_available"
    title = "Mission is not active"


# --- defining missions -----------------------------------------------------------------------

FIELDS = ("name", "description", "kind", "event_type", "matcher", "goal_count", "max_repetitions",
          "repetition_period", "period_limit", "points_on_completion", "ledger_account_id", "active", "valid_from",
          "valid_to", "tags", "code")
API_NAMES = {"event_type": "eventType", "goal_count": "goalCount", "max_repetitions": "maxRepetitions",
             "repetition_period": "repetitionPeriod", "period_limit": "periodLimit",
             "points_on_completion": "pointsOnCompletion", "ledger_account_id": "ledgerAccountId",
             "valid_from": "validFrom", "valid_to": "validTo"}


def create_mission(session: Session, organization_id: int, *, actor: Actor, name: str, event_type: str,
                   goal_count: int, **fields: Any) -> Mission:
    """Define a mission. Raises ValidationFailed naming the field (a bad matcher names line and column)."""
    reject_unknown(fields, FIELDS)
    mission = Mission(organization_id=organization_id, kind=MISSION, repetition_period=NO_PERIOD, active=True,
                      points_on_completion=0, tags=[], description="")
    code = fields.pop("code", None)
    _apply(session, mission, {"name": name, "event_type": event_type, "goal_count": goal_count, **fields})
    mission.code = _unique_code(session, organization_id, code)
    return audit.record_added(session, actor, "mission.created", mission, code=mission.code)


def update_mission(session: Session, mission: Mission, *, actor: Actor, **changes: Any) -> Mission:
    """Change what was given. Progress already made stays; a new goal applies to the next event."""
    reject_unknown(changes, FIELDS)
    if "code" in changes:
        code = changes.pop("code")
        if code and code != mission.code:
            mission.code = _unique_code(session, mission.organization_id, code, exclude=mission.id)
    _apply(session, mission, changes)
    return audit.record_changed(session, actor, "mission.updated", mission,
                                fields=sorted(API_NAMES.get(k, k) for k in changes))


def get_mission(session: Session, organization_id: int, mission_id: int) -> Mission:
    return get_owned(session, Mission, mission_id, organization_id, what="Mission", field="missionId")


def list_query(organization_id: int, *, active: bool | None = None, kind: str | None = None,
               event_type: str | None = None):
    stmt = select(Mission).where(Mission.organization_id == organization_id)
    if active is not None:
        stmt = stmt.where(Mission.active.is_(active))
    if kind:
        stmt = stmt.where(Mission.kind == kind)
    if event_type:
        stmt = stmt.where(Mission.event_type == event_type)
    return stmt


def _apply(session: Session, mission: Mission, values: dict[str, Any]) -> None:
    if "name" in values:
        mission.name = required_name(values["name"])
    if "description" in values:
        mission.description = values["description"] or ""
    if "kind" in values and values["kind"] is not None:
        if values["kind"] not in KINDS:
            raise ValidationFailed("kind must be mission or stampcard", field="kind")
        mission.kind = values["kind"]
    if "event_type" in values:
        mission.event_type = custom_events.require_known(session, mission.organization_id,
                                                          values["event_type"] or "", field="eventType")
    if "matcher" in values:
        text = (values["matcher"] or "").strip() or None
        if text is None:
            mission.matcher, mission.matcher_ast = None, None
        else:
            mission.matcher, mission.matcher_ast = text, compile_matcher(text)
    if "goal_count" in values:
        mission.goal_count = whole_number(values["goal_count"], "goalCount", minimum=1, maximum=MAX_INCREMENT)
    if "max_repetitions" in values:
        mission.max_repetitions = (None if values["max_repetitions"] is None
                                   else whole_number(values["max_repetitions"], "maxRepetitions", minimum=1,
                                                   maximum=MAX_LIMIT))
    if "repetition_period" in values and values["repetition_period"] is not None:
        if values["repetition_period"] not in PERIODS:
            raise ValidationFailed("repetitionPeriod must be none, day, week or month", field="repetitionPeriod")
        mission.repetition_period = values["repetition_period"]
    if "period_limit" in values:
        mission.period_limit = (None if values["period_limit"] is None
                                else whole_number(values["period_limit"], "periodLimit", minimum=1, maximum=MAX_LIMIT))
    if mission.period_limit is not None and mission.repetition_period == NO_PERIOD:
        raise ValidationFailed("periodLimit needs a repetitionPeriod (day, week or month)", field="periodLimit")
    if "points_on_completion" in values:
        mission.points_on_completion = whole_number(values["points_on_completion"] or 0, "pointsOnCompletion",
                                                    minimum=0, maximum=MAX_POINTS)
    if "ledger_account_id" in values:
        mission.ledger_account_id = ledger_account_reference(session, mission.organization_id,
                                                             values["ledger_account_id"])
    mission.set_window(values, from_field=API_NAMES["valid_from"], to_field=API_NAMES["valid_to"])
    if "tags" in values:
        mission.tags = list(values["tags"] or [])


def compile_matcher(text: str) -> dict[str, Any]:
    """Parse a matcher for storage. Raises RuleSyntaxError on field `matcher`, naming line and column."""
    return rules.to_json(rules.parse(text, field="matcher"))


def _unique_code(session: Session, organization_id: int, code: str | None, exclude: int | None = None) -> str:
    if code:
        code = code.strip()
        stmt = select(Mission.id).where(Mission.organization_id == organization_id, Mission.code == code)
        if exclude is not None:
            stmt = stmt.where(Mission.id != exclude)
        if session.scalar(stmt):
            raise DuplicateValue("A mission with this code already exists", field="code")
        return code
    for _ in range(20):
        code = "M-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
        if not session.scalar(select(Mission.id).where(Mission.organization_id == organization_id,
                                                       Mission.code == code)):
            return code
    raise RuntimeError("could not generate an unused mission code")


# --- periods -------------------------------------------------------------------------------

def period_key(period: str, moment: dt.datetime) -> str:
    """'all', '2026-03-14', '2026-W11' (ISO week) or '2026-03', in UTC."""
    moment = moment.astimezone(dt.timezone.utc)
    if period == DAY:
        return moment.date().isoformat()
    if period == WEEK:
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    if period == MONTH:
        return f"{moment.year}-{moment.month:02d}"
    return OVERALL


# --- counting --------------------------------------------------------------------------------

@dataclass
class Increment:
    effects: list[earning.Effect]
    replayed: bool = False


def increment(session: Session, member: Member, mission: Mission, amount: int, *, actor: Actor,
              system_unique_key: str | None = None, dry_run: bool = False) -> list[earning.Effect]:
    """Add `amount` to the member's counter (manual increment, campaign effect); returns the effects.

    Raises MissionNotAvailable (inactive or outside its validity), ValidationFailed (amount),
    NotFound (another organisation's member), IdempotencyKeyReused, AccountNotActive (points on completion).
    """
    return record_increment(session, member, mission, amount, actor=actor, system_unique_key=system_unique_key,
                            dry_run=dry_run).effects


def record_increment(session: Session, member: Member, mission: Mission, amount: int, *, actor: Actor,
                     system_unique_key: str | None = None, dry_run: bool = False, reason: str = "") -> Increment:
    """`increment`, also saying whether it was a replay of an earlier systemUniqueKey; `reason` (a
    staff member's, by hand) is kept in the audit entry."""
    if member.organization_id != mission.organization_id:
        raise NotFound("Member not found", field="memberId")
    amount = whole_number(amount, "amount", minimum=1, maximum=MAX_INCREMENT)
    now = utcnow()
    if not mission.is_running_at(now):
        raise MissionNotAvailable("This mission is not active now", field="missionId")
    if dry_run:
        return Increment(_advance(session, mission, member, amount, now, actor=actor, dry_run=True))

    def perform() -> dict[str, Any]:
        effects = _advance(session, mission, member, amount, now, actor=actor, dry_run=False)
        audit.record(session, actor, "mission.incremented", mission, memberId=member.id, amount=amount,
                     **({"reason": reason} if reason else {}))
        return {"effects": [effect.as_dict() for effect in effects]}

    outcome = idempotency.run_once(session, member.organization_id, system_unique_key, "mission.increment",
                                   {"member": member.id, "mission": mission.id, "amount": amount}, perform)
    return Increment([earning.Effect.from_dict(e) for e in outcome.result["effects"]], outcome.replayed)


@earning.handler(20, listens=earning.any_listening(Mission))
def count_event(session: Session, event: earning.LoyaltyEvent, evaluation: earning.Evaluation, *, actor: Actor,
                dry_run: bool = False) -> None:
    """Every running mission listening to this event type whose matcher matches counts it once."""
    if event.member is None:
        return
    listening = list(session.scalars(select(Mission).where(
        earning.listening(Mission, event.organization_id, event.event_type)).order_by(Mission.id)))
    context = None
    for mission in listening:
        if not mission.is_running_at(event.occurred_at):
            continue
        if mission.matcher_ast:
            context = context if context is not None else event_context(session, event)
            try:
                if not rules.matches(rules.from_json(mission.matcher_ast), context):
                    continue
            except rules.RuleEvaluationError as error:
                evaluation.errors.append({"source": f"mission:{mission.id}", "message": str(error)})
                continue
        try:
            if dry_run:
                evaluation.effects.extend(_advance(session, mission, event.member, 1, event.occurred_at,
                                                   actor=actor, dry_run=True))
            else:
                with session.begin_nested():
                    evaluation.effects.extend(_advance(session, mission, event.member, 1, event.occurred_at,
                                                       actor=actor, dry_run=False))
        except DomainError as error:
            evaluation.errors.append({"source": f"mission:{mission.id}", "message": error.message,
                                      "code": error.code})


def _advance(session: Session, mission: Mission, member: Member, amount: int, at: dt.datetime, *, actor: Actor,
             dry_run: bool) -> list[earning.Effect]:
    """Count `amount` toward the goal within the limits; complete as often as reached and allowed."""
    key = period_key(mission.repetition_period, at)
    if not dry_run and mission.points_on_completion:
        lock_points_wallet(session, member, mission.ledger_account_id)
    overall = _progress_row(session, mission, member.id, OVERALL, lock=not dry_run)
    current = overall if key == OVERALL else _progress_row(session, mission, member.id, key, lock=not dry_run)
    counter = current.counter if current else 0
    done_overall = overall.completions if overall else 0
    done_in_period = current.completions if current else 0

    room = None  # completions still allowed; None is unlimited
    if mission.max_repetitions is not None:
        room = mission.max_repetitions - done_overall
    if mission.period_limit is not None:
        left_in_period = mission.period_limit - done_in_period
        room = left_in_period if room is None else min(room, left_in_period)
    source = f"mission:{mission.id}"
    base = {"missionId": mission.id, "missionCode": mission.code, "kind": mission.kind, "periodKey": key,
            "goalCount": mission.goal_count}
    if room is not None and room <= 0:
        reason = ("maxRepetitions reached" if mission.max_repetitions is not None
                  and done_overall >= mission.max_repetitions else "periodLimit reached for this period")
        return [earning.Effect(type="mission_limit_reached", source=source, details={**base, "reason": reason})]

    reachable = (counter + amount) // mission.goal_count
    completed = reachable if room is None else min(reachable, room)
    if room is not None and completed == room:
        # Nothing more can be earned (in this period): count only what led to the last completion.
        counted = completed * mission.goal_count - counter
        new_counter = 0
    else:
        counted = amount
        new_counter = counter + amount - completed * mission.goal_count
    first_completion = done_overall + 1
    done_overall += completed
    offset = overall.completions_taken_back if overall is not None else 0
    effects = [earning.Effect(type="increment_mission", source=source, details={
        **base, "amount": counted, "counter": new_counter, "completions": done_overall})]

    if not dry_run:
        overall.completions = done_overall
        if current is not overall:
            current.completions = done_in_period + completed
        current.counter = new_counter
        current.updated_at = overall.updated_at = utcnow()
        if completed:
            current.last_completed_at = overall.last_completed_at = at
        session.flush()

    if completed:
        points_total = mission.points_on_completion * completed
        tx_id = None
        if points_total and not dry_run:
            reason = Reason(description=f"Mission completed: {mission.name}"[:500],
                            tags=["mission", f"mission:{mission.code}"],
                            system_unique_key=f"mission:{mission.id}:member:{member.id}:"
                                              f"completions:{first_completion + offset}-{done_overall + offset}")
            movement = points.mint_to_member(session, member, points_total, actor=actor, reason=reason,
                                             account_id=mission.ledger_account_id)
            tx_id = movement.transactions[0].id
        if not dry_run:
            outbox.emit(session, mission.organization_id, "mission-status-updated", member_id=member.id,
                        missionId=mission.id, missionCode=mission.code, missionName=mission.name,
                        kind=mission.kind, status="completed", completions=done_overall,
                        completedNow=completed, points=points_total, ledgerTransactionId=tx_id)
        effects.append(earning.Effect(type="mission_completed", points=points_total, source=source,
                                     ledger_transaction_id=tx_id,
                                     details={**base, "completedNow": completed, "completions": done_overall}))
    return effects


def take_back(session: Session, member: Member, counted: dict[str, Any], completed_now: int, *, actor: Actor) -> None:
    """Undo one counted event (its purchase was returned or cancelled): `counted` is the increment effect's details.

    Its count comes off the counter of its period and the completions it caused are undone (their points
    are the caller's to take back). Progress made since stays: the counter stays between 0 and goal - 1.
    """
    mission = session.get(Mission, counted.get("missionId"))
    if mission is None or mission.organization_id != member.organization_id:
        return
    lock_points_wallet(session, member, mission.ledger_account_id)  # the lock order of `_advance`
    key = counted.get("periodKey", OVERALL)
    overall = _progress_row(session, mission, member.id, OVERALL, lock=True)
    current = overall if key == OVERALL else _progress_row(session, mission, member.id, key, lock=True)
    amount = int(counted.get("amount", 0))
    counter = current.counter - amount + completed_now * mission.goal_count
    current.counter = max(0, min(counter, mission.goal_count - 1))
    if completed_now:
        overall.completions = max(overall.completions - completed_now, 0)
        overall.completions_taken_back += completed_now
        if current is not overall:
            current.completions = max(current.completions - completed_now, 0)
    current.updated_at = overall.updated_at = utcnow()
    session.flush()
    audit.record(session, actor, "mission.taken_back", mission, memberId=member.id, amount=amount,
                 completions=completed_now)


def lock_points_wallet(session: Session, member: Member, account_id: int | None = None) -> None:
    """Lock the member's wallet before progress rows: purchases lock it first (campaign awards), so every
    path takes wallet, then progress, and two events of one member cannot deadlock on PostgreSQL."""
    account = points.resolve_account(session, member.organization_id, account_id=account_id)
    wallet = ledger.member_wallet(session, account, member.id)
    session.execute(select(ledger.Wallet.id).where(ledger.Wallet.id == wallet.id).with_for_update())


def _progress_row(session: Session, mission: Mission, member_id: int, key: str, *,
                  lock: bool) -> MissionProgress | None:
    """The progress row, locked for update (created first if missing) unless this is a dry run."""
    stmt = select(MissionProgress).where(MissionProgress.mission_id == mission.id,
                                         MissionProgress.member_id == member_id, MissionProgress.period_key == key)
    if not lock:
        return session.scalars(stmt).first()
    locked = stmt.with_for_update().execution_options(populate_existing=True)
    row = session.scalars(locked).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(MissionProgress(organization_id=mission.organization_id, mission_id=mission.id,
                                        member_id=member_id, period_key=key))
    except IntegrityError:
        pass  # a concurrent event created it first; we wait for its lock below
    return session.scalars(locked).one()


# --- reading progress ---------------------------------------------------------------------------

@dataclass
class Progress:
    mission: Mission
    counter: int
    completions: int
    completions_in_period: int
    period_key: str
    last_completed_at: dt.datetime | None

    @property
    def blocked_by(self) -> str | None:
        """Why the member cannot complete it now: "inactive", "max_repetitions" (every completion done),
        "period_limit" (this period's done), "dates" (outside its window); None when they can."""
        m = self.mission
        if not m.active:
            return "inactive"
        if m.max_repetitions is not None and self.completions >= m.max_repetitions:
            return "max_repetitions"
        if m.period_limit is not None and self.completions_in_period >= m.period_limit:
            return "period_limit"
        if not m.is_running_at(utcnow()):
            return "dates"
        return None

    @property
    def available(self) -> bool:
        """Can the member still complete it (now, in this period)?"""
        return self.blocked_by is None

    @property
    def remaining(self) -> int:
        return self.mission.goal_count - self.counter if self.available else 0


def progress_of(session: Session, member: Member, mission: Mission, at: dt.datetime | None = None) -> Progress:
    """The member's progress on one mission in the current period."""
    key = period_key(mission.repetition_period, at or utcnow())
    rows = {r.period_key: r for r in session.scalars(select(MissionProgress).where(
        MissionProgress.mission_id == mission.id, MissionProgress.member_id == member.id,
        MissionProgress.period_key.in_({OVERALL, key})))}
    overall, current = rows.get(OVERALL), rows.get(key)
    return Progress(mission=mission, counter=current.counter if current else 0,
                    completions=overall.completions if overall else 0,
                    completions_in_period=current.completions if current else 0, period_key=key,
                    last_completed_at=overall.last_completed_at if overall else None)


def member_missions(session: Session, member: Member, *, active_only: bool = True,
                    kind: str | None = None) -> list[Progress]:
    """Every mission of the member's organisation with the member's progress (the portal's missions page)."""
    stmt = list_query(member.organization_id, active=True if active_only else None, kind=kind).order_by(Mission.id)
    return [progress_of(session, member, mission) for mission in session.scalars(stmt)]
