"""The earning engine's single entry point: a loyalty event in, effects out.

Purchases, signups, coupon uses, referrals, birthdays and custom events all
become a LoyaltyEvent and go through `dispatch`, which hands it to the
registered handlers in priority order: a purchase's automatic coupons are used
(5, before any points move), campaigns (10: award points, assign coupons, set
tiers...), the coupons' bonus on the campaigns' points (15; the order is written
out in campaigns.py), then missions, then referral qualification.

Invariants:
- A dry run (simulation) writes nothing: handlers compute what they would do.
- Every effect names the campaign and action (or mission, referral) that caused
  it and the ledger transaction it wrote, so a history can say why.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import and_, bindparam, literal_column, select, union_all
from sqlalchemy.orm import Session

from .actors import Actor
from .base import utcnow

# The seed's event names where it has one.
PURCHASE_CONFIRMED = "member-purchase-order-confirmed"
MEMBER_CREATED = "member-created"
COUPON_USED = "coupon-code-used"
REFERRAL_COMPLETED = "referral-completed"
BIRTHDAY = "member-birthday"
TIER_SET = "member-tier-set"
BUILT_IN_EVENTS = (PURCHASE_CONFIRMED, MEMBER_CREATED, COUPON_USED, REFERRAL_COMPLETED, BIRTHDAY, TIER_SET)


@dataclass
class LoyaltyEvent:
    organization_id: int
    member: Any  # members.Member
    event_type: str
    payload: dict[str, Any] = field(default_factory=dict)
    occurred_at: dt.datetime = field(default_factory=utcnow)
    system_unique_key: str | None = None
    order: Any = None  # orders.PurchaseOrder for purchase events
    location_code: str | None = None
    program: Any = None  # the organisation's default LoyaltyProgram, when the caller has read it already
    # The books of the member's automatic coupons, when the caller has locked them already (a purchase:
    # orders._confirm); [] says the member holds none, so the purchase's coupons are not looked for again.
    coupon_books: list | None = None
    # What listens to it (`listeners`), once read for its dispatch: definition table -> listening (id, updated_at).
    listeners: dict[str, tuple] | None = field(default=None, repr=False, compare=False)


@dataclass
class Effect:
    type: str  # award_points | assign_coupon | set_tier | increment_mission | emit_event | mission_completed | ...
    points: int = 0
    campaign_id: int | None = None
    action_id: int | None = None
    source: str = ""  # "campaign:SAT-GOLD", "mission:12", "coupon:7", "referral:3"
    ledger_transaction_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def mission_id(self) -> int | None:
        """The mission the effect came from ("mission:12" -> 12); None for any other source."""
        kind, _, ident = self.source.partition(":")
        return int(ident) if kind == "mission" and ident.isdigit() else None

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "points": self.points, "campaignId": self.campaign_id,
                "actionId": self.action_id, "source": self.source,
                "ledgerTransactionId": self.ledger_transaction_id, "details": self.details}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Effect:
        """The effect again from its `as_dict` (kept in an idempotency result or an audit entry)."""
        return cls(type=stored["type"], points=stored.get("points", 0), campaign_id=stored.get("campaignId"),
                   action_id=stored.get("actionId"), source=stored.get("source", ""),
                   ledger_transaction_id=stored.get("ledgerTransactionId"), details=stored.get("details") or {})


@dataclass
class Evaluation:
    effects: list[Effect] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def points_awarded(self) -> int:
        return sum(e.points for e in self.effects if e.type == "award_points")

    def as_dict(self) -> dict[str, Any]:
        return {"pointsAwarded": self.points_awarded, "effects": [e.as_dict() for e in self.effects],
                "errors": self.errors}


Handler = Callable[..., None]
# listens(session, organization_id, event_type) -> could the handler do anything for such an event?
Listens = Callable[[Session, int, str], bool]
# many(session, events, evaluations, *, actor) -> what fn does for each event, for a list of events of one
# organisation and type (their evaluations beside them), in fewer statements.
Many = Callable[..., None]
_handlers: list[tuple[int, Handler]] = []
_listens: dict[Handler, Listens] = {}
_many: dict[Handler, Many] = {}


def handler(priority: int, *, listens: Listens | None = None, many: Many | None = None):
    """Register fn(session, event, evaluation, *, actor, dry_run) to run on every event. `listens`, when
    given, tells `dispatch_many` once per organisation and event type whether fn can be skipped; `many`,
    when given, is what `dispatch_many` calls instead of fn once per event."""

    def register(fn: Handler) -> Handler:
        _handlers.append((priority, fn))
        _handlers.sort(key=lambda pair: pair[0])
        if listens is not None:
            _listens[fn] = listens
        if isinstance(listens, Listening):
            _listenings[listens.table] = listens
            _listeners_statement.clear()
        if many is not None:
            _many[fn] = many
        return fn

    return register


def listening(model, organization_id: int, event_type: str):
    """The condition on a definition table (campaigns, missions: organization_id, event_type, active) for the
    rows that listen to `event_type` in the organisation."""
    return and_(model.organization_id == organization_id, model.event_type == event_type, model.active.is_(True))


def only_on(event_type: str) -> Listens:
    """A `listens` for a handler that acts on one event type whatever the organisation has defined."""
    return lambda session, organization_id, type_: type_ == event_type


class Listening:
    """The `listens` of a handler run by the rows of a definition table (campaigns, missions, referral
    programmes) that listen to the event's type. `dispatch` reads every such table's listening rows at once
    (`listeners`: one statement per event, whatever the number of tables) and skips a handler none of whose
    rows listen; the handler can ask for them again (`rows`) at no cost, e.g. the campaigns' fingerprint."""

    def __init__(self, model, condition: Callable[[Any, Any, Any], Any] = None):
        self.model = model
        self.table = model.__tablename__
        self.condition = condition or listening

    def select(self):
        """(table, id, updated_at) of the rows listening, the organisation and event type bound by name."""
        return select(literal_column(f"'{self.table}'").label("kind"), self.model.id, self.model.updated_at).where(
            self.condition(self.model, bindparam("organization_id"), bindparam("event_type")))

    def rows(self, session: Session, event: LoyaltyEvent) -> tuple:
        """The (id, updated_at) of the rows listening to the event, in id order (read once per event)."""
        if event.listeners is None:
            event.listeners = listeners(session, event.organization_id, event.event_type)
        return event.listeners[self.table]

    def __call__(self, session: Session, organization_id: int, event_type: str) -> bool:
        return bool(listeners(session, organization_id, event_type)[self.table])


_listenings: dict[str, Listening] = {}
_listeners_statement: list = []  # the UNION ALL of every Listening's select, built once (then cached compiled)


def any_listening(model) -> Listening:
    """A `listens` for a handler run by the rows of `model` that listen to the event's type."""
    return Listening(model)


def listeners(session: Session, organization_id: int, event_type: str) -> dict[str, tuple]:
    """Definition table -> the (id, updated_at) of its rows listening to the event type in the organisation, in
    id order, for every table a handler's `Listening` names: one statement."""
    if not _listeners_statement:
        _listeners_statement.append(union_all(*(listening.select() for listening in _listenings.values())))
    found: dict[str, list] = {table: [] for table in _listenings}
    for table, row_id, updated_at in session.execute(_listeners_statement[0], {
            "organization_id": organization_id, "event_type": event_type}):
        found[table].append((row_id, updated_at))
    return {table: tuple(sorted(rows)) for table, rows in found.items()}


def dispatch(session: Session, event: LoyaltyEvent, *, actor: Actor, dry_run: bool = False,
             evaluation: Evaluation | None = None) -> Evaluation:
    """Run every handler on the event; returns what they did (or would do, in a dry run). A handler whose
    `Listening` finds no row listening to the event is skipped (it would do nothing): what listens to the event
    is read once, in one statement, for all of them (`listeners`)."""
    evaluation = evaluation or Evaluation()
    for _, fn in list(_handlers):
        listens = _listens.get(fn)
        if isinstance(listens, Listening) and not listens.rows(session, event):
            continue
        fn(session, event, evaluation, actor=actor, dry_run=dry_run)
    return evaluation


def dispatch_many(session: Session, events: list[LoyaltyEvent], *, actor: Actor) -> list[Evaluation]:
    """`dispatch` each event (a bulk import's `member-created`s), handler by handler rather than event by
    event: each handler is asked once per (organisation, type) whether anything listens (`listens`), then
    runs for all the events of that kind at once when it has a `many`, else for each in turn. Each event
    still meets its handlers in priority order and gets what `dispatch` would give it; only the order in
    which different events' effects are written differs (all the campaigns' first, then the missions')."""
    evaluations = [Evaluation() for _ in events]
    kinds: dict[tuple[int, str], list[int]] = {}
    for index, event in enumerate(events):
        kinds.setdefault((event.organization_id, event.event_type), []).append(index)
    for kind, indexes in kinds.items():
        known = listeners(session, *kind)  # every Listening's rows at once
        for i in indexes:
            events[i].listeners = known
        for _, fn in _handlers:
            listens = _listens.get(fn)
            if isinstance(listens, Listening) and not known[listens.table]:
                continue
            if listens is not None and not isinstance(listens, Listening) and not listens(session, *kind):
                continue
            if fn in _many:
                _many[fn](session, [events[i] for i in indexes], [evaluations[i] for i in indexes], actor=actor)
                continue
            for i in indexes:
                fn(session, events[i], evaluations[i], actor=actor, dry_run=False)
    return evaluations
