"""Campaigns: constraints, then ordered actions of rules and effects.

A campaign listens to one event type. When it is eligible for an event (active,
inside its validity window, on one of its days and at one of its locations in
its own timezone, for one of its tiers and audiences, over its minimum spend),
its running actions are tried in index order: when every rule of an action is
true, its effects apply. `abort_on_false` stops the campaign at an action whose
rules are false; `abort_on_error` stops it when a rule cannot be evaluated
(otherwise the action is skipped and the error reported).

Invariants:
- Rules and effects are validated when saved: a campaign never holds a rule
  that does not parse or an effect of unknown shape.
- A monthly points cap per member is never exceeded, even under concurrent
  events: the month's counter row is locked while the grant is computed, and an
  award that would cross the cap is applied partially.
- Every applied effect writes a CampaignEvaluation row naming the campaign, the
  action and the ledger transaction, so a history can say why points came.
"""
from __future__ import annotations

import datetime as dt
import weakref
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Boolean, ForeignKey, Numeric, String, UniqueConstraint, insert, select
from sqlalchemy.event import listens_for
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import audit, earning, outbox, points, rules
from .actors import Actor
from .base import Base, IndexedOwnedRow, OwnedRow, ValidityWindow, add_unique, get_owned, utcnow
from .checks import reject_unknown
from .context import WEEKDAYS, event_context, time_context
from .errors import DomainError, DuplicateValue, NotFound, ValidationFailed
from .ledger import LedgerAccount, Reason
from .organizations import LoyaltyProgram, default_program, get_program

DRAFT, RUNNING, DISABLED = "draft", "running", "disabled"
ACTION_STATUSES = (DRAFT, RUNNING, DISABLED)
EFFECT_TYPES = ("award_points", "assign_coupon", "set_tier", "increment_mission", "emit_event")
AWARD_MODES = ("fixed", "per_currency", "multiplier")
ROUNDING = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_UP}
Money = Numeric(14, 2)


class Campaign(IndexedOwnedRow, ValidityWindow, Base):
    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    loyalty_program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    event_type: Mapped[str] = mapped_column(String(100), default=earning.PURCHASE_CONFIRMED)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    days_of_week: Mapped[list[str]] = mapped_column(default=list)
    location_codes: Mapped[list[str]] = mapped_column(default=list)
    tier_ids: Mapped[list[int]] = mapped_column(default=list)
    audience_ids: Mapped[list[int]] = mapped_column(default=list)
    min_spend: Mapped[Decimal | None] = mapped_column(Money, default=None)
    monthly_points_cap: Mapped[int | None] = mapped_column(default=None)
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CampaignAction(OwnedRow, Base):
    __tablename__ = "campaign_actions"
    __table_args__ = (UniqueConstraint("campaign_id", "index"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    index: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(200), default="")
    rules: Mapped[list[str]] = mapped_column(default=list)
    effects: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    abort_on_false: Mapped[bool] = mapped_column(Boolean, default=False)
    abort_on_error: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default=RUNNING)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CampaignMonthlyAward(Base):
    """Points a campaign gave a member in one month: the counter behind the monthly cap."""

    __tablename__ = "campaign_monthly_awards"
    __table_args__ = (UniqueConstraint("campaign_id", "member_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM in the campaign's timezone
    points: Mapped[int] = mapped_column(default=0)


class CampaignEvaluation(OwnedRow, Base):
    """Which campaign and action produced which effect and ledger transaction."""

    __tablename__ = "campaign_evaluations"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("campaign_actions.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_orders.id"), index=True, default=None)
    effect_type: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(default=0)
    ledger_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"), index=True,
                                                              default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --- saving campaigns -----------------------------------------------------------------

WINDOW_FIELDS = ("active", "valid_from", "valid_to")
CAMPAIGN_FIELDS = ("name", "description", "event_type", "active", "valid_from", "valid_to", "timezone",
                   "days_of_week", "location_codes", "tier_ids", "audience_ids", "min_spend", "monthly_points_cap",
                   "tags", "loyalty_program_id")


def create_campaign(session: Session, organization_id: int, *, code: str, name: str, actor: Actor,
                    **fields: Any) -> Campaign:
    """Raises DuplicateValue for a taken code, ValidationFailed for a bad field."""
    program_id = fields.pop("loyalty_program_id", None)
    # Another organisation's programme is not found: the id is checked before it is stored.
    program = (get_program(session, organization_id, program_id) if program_id is not None
               else default_program(session, organization_id))
    campaign = Campaign(organization_id=organization_id, loyalty_program_id=program.id, code=code.strip(),
                        name=name.strip())
    _apply_fields(session, campaign, fields)
    add_unique(session, campaign, DuplicateValue("A campaign with this code already exists", field="code"))
    audit.record(session, actor, "campaign.created", campaign)
    return campaign


def update_campaign(session: Session, campaign: Campaign, *, actor: Actor, **fields: Any) -> Campaign:
    _apply_fields(session, campaign, fields)
    session.flush()  # the campaign's updated_at moves on (_campaigns_follow_their_changes)
    audit.record(session, actor, "campaign.updated", campaign, fields=sorted(fields))
    return campaign


@listens_for(Session, "before_flush")
def _campaigns_follow_their_changes(session: Session, _context, _instances) -> None:
    """Whatever writes a campaign or one of its actions (these functions, an edit through audit.record_changed,
    a module to come), the campaign's updated_at moves on at the flush: the copies evaluation keeps of it are
    checked against it (_listening_cache), so no writer has to remember to."""
    changed = {row.campaign_id for row in (*session.new, *session.dirty, *session.deleted)
               if isinstance(row, CampaignAction) and row.campaign_id is not None}
    changed |= {row.id for row in session.dirty if isinstance(row, Campaign) and session.is_modified(row)}
    for campaign_id in changed:
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None:
            _touch(campaign)


def _touch(campaign: Campaign) -> None:
    """The campaign (or one of its actions) changed: a new updated_at, later than the one before even when the
    clock stands still or goes back, so the copies evaluation keeps of it are no longer used (_listening_cache)."""
    now, before = utcnow(), campaign.updated_at
    if before is not None and before.tzinfo is None:
        before = before.replace(tzinfo=dt.timezone.utc)
    campaign.updated_at = max(now, before + dt.timedelta(microseconds=1)) if before is not None else now


def get_campaign(session: Session, organization_id: int, campaign_id: int) -> Campaign:
    return get_owned(session, Campaign, campaign_id, organization_id, what="Campaign", field="campaignId")


def actions_of(session: Session, campaign_id: int) -> list[CampaignAction]:
    return list(session.scalars(select(CampaignAction).where(CampaignAction.campaign_id == campaign_id)
                                .order_by(CampaignAction.index, CampaignAction.id)))


def add_action(session: Session, campaign: Campaign, *, actor: Actor, rules_text: list[str],
               effects: list[dict], index: int | None = None, name: str = "", abort_on_false: bool = False,
               abort_on_error: bool = True, status: str = RUNNING) -> CampaignAction:
    """Add an action; its rules must parse and its effects must be well-formed."""
    if index is None:
        index = max((a.index for a in actions_of(session, campaign.id)), default=-1) + 1
    action = CampaignAction(organization_id=campaign.organization_id, campaign_id=campaign.id, index=index)
    _apply_action(session, action, dict(rules_text=rules_text, effects=effects, name=name,
                                        abort_on_false=abort_on_false, abort_on_error=abort_on_error, status=status))
    add_unique(session, action, DuplicateValue("Another action already has this index", field="index"))
    audit.record(session, actor, "campaign.action_added", action, campaignId=campaign.id)
    return action


def update_action(session: Session, action: CampaignAction, *, actor: Actor, **fields: Any) -> CampaignAction:
    if "index" in fields and fields["index"] is not None and fields["index"] != action.index:
        if session.scalar(select(CampaignAction.id).where(CampaignAction.campaign_id == action.campaign_id,
                                                          CampaignAction.index == fields["index"])):
            raise DuplicateValue("Another action already has this index", field="index")
        action.index = fields["index"]
    _apply_action(session, action, {k: v for k, v in fields.items() if k != "index" and v is not None})
    session.flush()
    audit.record(session, actor, "campaign.action_updated", action, campaignId=action.campaign_id)
    return action


def get_action(session: Session, campaign: Campaign, action_id: int) -> CampaignAction:
    return get_owned(session, CampaignAction, action_id, campaign.organization_id, what="Action", field="actionId",
                     campaign_id=campaign.id)


def evaluations_for_order(session: Session, order_id: int) -> list[CampaignEvaluation]:
    return list(session.scalars(select(CampaignEvaluation).where(CampaignEvaluation.order_id == order_id)
                                .order_by(CampaignEvaluation.id)))


# Fields a change may not set to null (the API's PATCH sends null to clear the others, e.g. validTo).
NOT_CLEARABLE = {"name": "name", "event_type": "eventType", "active": "active", "timezone": "timezone"}


def _apply_fields(session: Session, campaign: Campaign, fields: dict[str, Any]) -> None:
    reject_unknown(fields, CAMPAIGN_FIELDS)
    for key, value in fields.items():
        if value is None and key in NOT_CLEARABLE:
            raise ValidationFailed("Cannot be cleared: give a value", field=NOT_CLEARABLE[key])
        if key in WINDOW_FIELDS:
            continue
        if key == "description":
            value = value or ""
        elif key == "timezone":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValidationFailed("Unknown timezone", field="timezone") from None
        elif key == "days_of_week":
            value = [d.lower() for d in (value or [])]
            bad = [d for d in value if d not in WEEKDAYS]
            if bad:
                raise ValidationFailed(f"Unknown day {bad[0]!r}", field="daysOfWeek")
        elif key in ("location_codes", "tags"):
            value = [str(v) for v in (value or [])]
        elif key in ("tier_ids", "audience_ids"):
            value = [int(v) for v in (value or [])]
            _check_references(session, campaign.organization_id, key, value)
        elif key == "min_spend" and value is not None:
            value = Decimal(str(value))
            if value < 0:
                raise ValidationFailed("minSpend cannot be negative", field="minSpend")
        elif key == "monthly_points_cap" and value is not None and value < 1:
            raise ValidationFailed("monthlyPointsCap must be at least 1", field="monthlyPointsCap")
        elif key == "loyalty_program_id" and value is not None:
            get_program(session, campaign.organization_id, value)
        elif key == "event_type":
            from . import custom_events

            # Built in, or a custom event type the organisation defined (same rule as for missions).
            custom_events.require_known(session, campaign.organization_id, value or "", field="eventType")
        setattr(campaign, key, value)
    campaign.set_window(fields, from_field="validFrom", to_field="validTo")


def _check_references(session: Session, organization_id: int, key: str, ids: list[int]) -> None:
    from .audiences import Audience
    from .tiers import Tier

    model, field_name = (Tier, "tierIds") if key == "tier_ids" else (Audience, "audienceIds")
    found = set(session.scalars(select(model.id).where(model.organization_id == organization_id, model.id.in_(ids))))
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"{field_name[:-3].capitalize()} {missing[0]} not found", field=field_name)


def _apply_action(session: Session, action: CampaignAction, fields: dict[str, Any]) -> None:
    if "rules_text" in fields:
        texts = list(fields["rules_text"] or [])
        for position, text in enumerate(texts):
            rules.parse(text, field=f"rules[{position}]")
        action.rules = texts
    if "effects" in fields:
        action.effects = [_check_effect(session, action.organization_id, effect, position)
                          for position, effect in enumerate(fields["effects"] or [])]
    if "status" in fields:
        if fields["status"] not in ACTION_STATUSES:
            raise ValidationFailed("status must be draft, running or disabled", field="status")
        action.status = fields["status"]
    for key in ("name", "abort_on_false", "abort_on_error"):
        if key in fields:
            setattr(action, key, fields[key])


def _check_effect(session: Session, organization_id: int, effect: dict, position: int) -> dict:
    where = f"effects[{position}]"
    if not isinstance(effect, dict) or effect.get("type") not in EFFECT_TYPES:
        raise ValidationFailed(f"type must be one of {', '.join(EFFECT_TYPES)}", field=f"{where}.type")
    kind = effect["type"]
    clean: dict[str, Any] = {"type": kind}
    if kind == "award_points":
        mode = effect.get("mode", "fixed")
        if mode not in AWARD_MODES:
            raise ValidationFailed("mode must be fixed, per_currency or multiplier", field=f"{where}.mode")
        clean["mode"] = mode
        if mode in ("fixed", "per_currency"):
            clean["points"] = _positive_int(effect.get("points"), f"{where}.points")
        if mode == "per_currency":
            clean["per"] = str(_positive_decimal(effect.get("per", "1"), f"{where}.per"))
            rounding = effect.get("rounding", "down")
            if rounding not in ROUNDING:
                raise ValidationFailed("rounding must be down, up or nearest", field=f"{where}.rounding")
            clean["rounding"] = rounding
            clean["categories"] = [str(c) for c in effect.get("categories") or []]
        if mode == "multiplier":
            clean["multiplier"] = str(_positive_decimal(effect.get("multiplier"), f"{where}.multiplier"))
        clean["tierPoints"] = bool(effect.get("tierPoints", True))
        if effect.get("ledgerAccountId") is not None:
            account = get_owned(session, LedgerAccount, effect["ledgerAccountId"], organization_id,
                                what="Ledger account", field=f"{where}.ledgerAccountId")
            clean["ledgerAccountId"] = account.id
    elif kind == "assign_coupon":
        from .coupons import get_book

        book_id = _positive_int(effect.get("couponBookId"), f"{where}.couponBookId")
        clean["couponBookId"] = _owned(get_book, session, organization_id, book_id, f"{where}.couponBookId")
    elif kind == "set_tier":
        from .tiers import Tier

        tier = get_owned(session, Tier, effect.get("tierId"), organization_id, what="Tier", field=f"{where}.tierId")
        clean["tierId"] = tier.id
        if effect.get("expiresInDays") is not None:
            clean["expiresInDays"] = _positive_int(effect["expiresInDays"], f"{where}.expiresInDays")
    elif kind == "increment_mission":
        from .missions import get_mission

        mission_id = _positive_int(effect.get("missionId"), f"{where}.missionId")
        clean["missionId"] = _owned(get_mission, session, organization_id, mission_id, f"{where}.missionId")
        clean["amount"] = _positive_int(effect.get("amount", 1), f"{where}.amount")
    elif kind == "emit_event":
        name = effect.get("eventType")
        if not isinstance(name, str) or not name.strip():
            raise ValidationFailed("eventType is required", field=f"{where}.eventType")
        clean["eventType"] = name.strip()
        clean["payload"] = effect.get("payload") if isinstance(effect.get("payload"), dict) else {}
    return clean


def _owned(get, session: Session, organization_id: int, object_id: int, field: str) -> int:
    """The id, once `get` found it in the organisation; NotFound naming `field` otherwise."""
    try:
        return get(session, organization_id, object_id).id
    except NotFound as error:
        raise NotFound(error.message, field=field) from None


def _positive_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationFailed("must be a whole number above 0", field=field)
    return value


def _positive_decimal(value: Any, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("must be a number", field=field) from None
    if not number.is_finite() or number <= 0:
        raise ValidationFailed("must be above 0", field=field)
    return number


# --- evaluating -----------------------------------------------------------------------

# The campaigns listening to an event type, with their actions, as plain copies kept per process:
# database (engine, or the connection a test binds its session to) -> (organisation, event type) ->
# (fingerprint, campaigns, actions by campaign). The fingerprint is
# the (id, updated_at) of each listening campaign, read on every use (with the missions and referral
# programmes listening, in the one small statement earning.listeners sends per event, instead of loading
# every campaign and action with their JSON columns), so a copy is used only while it is exactly what the
# database holds: any change of a campaign moves its updated_at (add_action and update_action move the
# campaign's), a new, paused or ended one changes the ids, and a rolled-back change leaves the old
# timestamps. Kept per database object, not per URL: a test's rolled-back rows may come back under the same
# ids and, with the clock frozen, the same timestamps, on another connection to the same database. Bounded:
# emptied past _CACHED_KINDS entries.
_listening_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHED_KINDS = 256


class CampaignCopy:
    """A campaign row as evaluation reads it, outside any session (shared by requests: never changed)."""

    __slots__ = tuple(c.key for c in Campaign.__table__.columns)
    is_running_at = ValidityWindow.is_running_at

    def __init__(self, row: Campaign):
        for name in self.__slots__:
            setattr(self, name, getattr(row, name))


class ActionCopy:
    """A campaign action as evaluation reads it, outside any session (never changed)."""

    __slots__ = tuple(c.key for c in CampaignAction.__table__.columns)

    def __init__(self, row: CampaignAction):
        for name in self.__slots__:
            setattr(self, name, getattr(row, name))


_LISTENING = earning.any_listening(Campaign)


def _listening_with_actions(session: Session, event: earning.LoyaltyEvent):
    """The campaigns listening to the event's type, in id order, and their actions by campaign, in index order:
    nothing more than the fingerprint (read with what else listens to the event, earning.listeners) when this
    process knows them as they are (see _listening_cache), two more statements when not."""
    organization_id, event_type = event.organization_id, event.event_type
    fingerprint = _LISTENING.rows(session, event)
    if not fingerprint:
        return [], {}
    cached = _listening_cache.setdefault(session.get_bind(), {})
    key = (organization_id, event_type)
    known = cached.get(key)
    if known is not None and known[0] == fingerprint:
        return known[1], known[2]
    campaigns = [CampaignCopy(c) for c in session.scalars(select(Campaign).where(
        Campaign.id.in_([campaign_id for campaign_id, _ in fingerprint]))).all()]
    campaigns.sort(key=lambda c: c.id)
    actions: dict[int, list] = {campaign.id: [] for campaign in campaigns}
    for action in session.scalars(select(CampaignAction).where(CampaignAction.campaign_id.in_(list(actions)))
                                  .order_by(CampaignAction.index, CampaignAction.id)):
        actions[action.campaign_id].append(ActionCopy(action))
    # Kept only when read as fingerprinted (a change between the two reads: used this once, not kept).
    if tuple((c.id, c.updated_at) for c in campaigns) == fingerprint:
        if len(cached) >= _CACHED_KINDS:
            cached.clear()
        cached[key] = (fingerprint, campaigns, actions)
    return campaigns, actions


def run_campaigns_many(session: Session, events: list[earning.LoyaltyEvent], evaluations: list[earning.Evaluation],
                       *, actor: Actor) -> None:
    """`run_campaigns` for many events of one organisation and type (`earning.dispatch_many`): a campaign
    that `bulk.awards.takes` (points whatever the member) is applied to all of them set-based; any other
    runs event by event. Each event gets the effects `run_campaigns` gives it, in the same order."""
    from .bulk import awards

    campaigns, actions = _listening_with_actions(session, events[0])
    per_event = [c for c in campaigns if not awards.takes(c, actions[c.id])]
    # As in run_campaigns, each event's context is read before any campaign acts on it.
    contexts = [event_context(session, event) for event in events] if per_event else []
    for campaign in campaigns:
        if campaign not in per_event:
            awards.award_all(session, campaign, actions[campaign.id], events, evaluations, actor=actor)
            continue
        pending: list[_Award] = []
        for event, context, evaluation in zip(events, contexts, evaluations):
            if eligible(session, campaign, event, context):
                _run_actions(session, campaign, actions[campaign.id], event, context, evaluation, actor, False, pending)
        post_awards(session, pending, actor)


@earning.handler(10, listens=_LISTENING, many=run_campaigns_many)
def run_campaigns(session: Session, event: earning.LoyaltyEvent, evaluation: earning.Evaluation, *, actor: Actor,
                  dry_run: bool = False) -> None:
    """Apply every eligible campaign listening to the event's type."""
    campaigns, actions = _listening_with_actions(session, event)
    if not campaigns:
        return
    context = event_context(session, event, with_audiences=_asked(campaigns, actions, "audiences"),
                            with_balances=_asked(campaigns, actions, "balance", "tierPoints"))
    pending: list[_Award] = []  # posted together, before any other kind of effect and at the end
    for campaign in campaigns:
        if eligible(session, campaign, event, context):
            _run_actions(session, campaign, actions[campaign.id], event, context, evaluation, actor, dry_run, pending)
    post_awards(session, pending, actor)


def _asked(campaigns: list, actions: dict[int, list], *names: str) -> bool:
    """Do these campaigns need the member's audiences (or balances): a rule that names them, or for audiences a
    campaign for some audiences? The context leaves out what no rule reads (context.member_context)."""
    if "audiences" in names and any(c.audience_ids for c in campaigns):
        return True
    # A computed key (member["bal" + "ance"]) names nothing the text shows: a rule with an index reads everything.
    return any(name in text or "[" in text for listed in actions.values() for action in listed
               for text in action.rules for name in names)


def eligible_spend(order, categories: list[str] | None = None) -> Decimal:
    """What earns: the discounted total (discount lines never earn), or the named categories' lines;
    either only in the share paid in money (points paid, `points_redeemed_value`, never earn: orders.py)."""
    spend = max(Decimal(order.discounted_total if order.discounted_total is not None else order.total), Decimal(0))
    paid_with_points = min(Decimal(getattr(order, "points_redeemed_value", None) or 0), spend)
    if categories:
        lines = sum((i.unit_price * i.quantity for i in order.items
                     if not i.is_discount and i.product_category_code in categories and i.unit_price > 0),
                    Decimal(0))
        return lines * (spend - paid_with_points) / spend if paid_with_points else lines
    return spend - paid_with_points


def eligible(session: Session, campaign: Campaign, event: earning.LoyaltyEvent, context: dict) -> bool:
    """Does the campaign apply to the event (time, place, tier, audience)? Also used by bulk/awards.py."""
    moment = event.occurred_at
    if not campaign.is_running_at(moment):
        return False
    local = time_context(moment, campaign.timezone)
    if campaign.days_of_week and local["weekday"] not in campaign.days_of_week:
        return False
    location = event.order.location_code if event.order is not None else event.location_code
    if campaign.location_codes and location not in campaign.location_codes:
        return False
    if campaign.tier_ids and context["member"]["tierId"] not in campaign.tier_ids:
        return False
    if campaign.audience_ids:
        from .audiences import Audience

        names = set(context["member"]["audiences"])
        wanted = set(session.scalars(select(Audience.name).where(Audience.id.in_(campaign.audience_ids))))
        if not names & wanted:
            return False
    if campaign.min_spend is not None:
        if event.order is None or eligible_spend(event.order) < campaign.min_spend:
            return False
    return True


def _run_actions(session, campaign, actions, event, context, evaluation, actor, dry_run, awards) -> None:
    for action in actions:
        if action.status != RUNNING:
            continue
        try:
            passed = all(rules.matches(rules.compiled(text), context) for text in action.rules)
        except rules.RuleEvaluationError as error:
            evaluation.errors.append({"campaignId": campaign.id, "actionId": action.id, "error": str(error)})
            if action.abort_on_error:
                return
            continue
        if not passed:
            if action.abort_on_false:
                return
            continue
        for effect in action.effects:
            _apply_effect(session, campaign, action, effect, event, evaluation, actor, dry_run, awards)


def _apply_effect(session, campaign, action, effect, event, evaluation, actor, dry_run, awards) -> None:
    source = f"campaign:{campaign.code}"
    kind = effect["type"]
    if kind == "award_points":
        award_points(session, campaign, action, effect, event, evaluation, dry_run, awards)
        return
    # Any other effect may depend on the points awarded so far (a coupon's required balance, a mission's
    # reward, a tier): they are posted first, so every effect sees what it saw when each award posted alone.
    post_awards(session, awards, actor)
    if kind == "assign_coupon":
        evaluation.effects.append(_assign_coupon(session, campaign, action, effect, event, actor, dry_run))
    elif kind == "set_tier":
        from . import tiers

        tier = session.get(tiers.Tier, effect["tierId"])
        if not dry_run:
            expires = utcnow() + dt.timedelta(days=effect["expiresInDays"]) if effect.get("expiresInDays") else None
            program = session.get(LoyaltyProgram, tier.loyalty_program_id)
            tiers.set_tier(session, event.member.id, program, tier, actor=actor, expires_at=expires,
                           reason=f"campaign {campaign.code}")
            _record(session, campaign, action, event, "set_tier", 0, None)
        evaluation.effects.append(earning.Effect(type="set_tier", campaign_id=campaign.id, action_id=action.id,
                                                source=source, details={"tierId": tier.id, "tierName": tier.name}))
    elif kind == "increment_mission":
        from . import missions

        try:
            mission = missions.get_mission(session, campaign.organization_id, effect["missionId"])
            with session.begin_nested():
                produced = missions.increment(session, event.member, mission, effect["amount"], actor=actor,
                                              dry_run=dry_run)
        except DomainError as error:  # a paused or deleted mission does not spoil the purchase
            evaluation.effects.append(earning.Effect(type="increment_mission", campaign_id=campaign.id,
                                                    action_id=action.id, source=source,
                                                    details={"missionId": effect["missionId"],
                                                             "refused": error.message}))
            return
        for produced_effect in produced:
            produced_effect.campaign_id = produced_effect.campaign_id or campaign.id
            produced_effect.action_id = produced_effect.action_id or action.id
        evaluation.effects.extend(produced)
    elif kind == "emit_event":
        if not dry_run:
            outbox.emit(session, campaign.organization_id, effect["eventType"], member_id=event.member.id,
                        campaignId=campaign.id, **effect.get("payload", {}))
        evaluation.effects.append(earning.Effect(type="emit_event", campaign_id=campaign.id, action_id=action.id,
                                                source=source, details={"eventType": effect["eventType"]}))


def award_points(session: Session, campaign: Campaign, action: CampaignAction, effect: dict,
                 event: earning.LoyaltyEvent, evaluation: earning.Evaluation, dry_run: bool,
                 awards: list[_Award]) -> None:
    """An award_points effect: the points asked for within the monthly cap, added to the evaluation, and (unless
    `dry_run`) gathered in `awards` for `post_awards` when some are granted. Also used by bulk/awards.py."""
    requested = award_amount(effect, event, evaluation, campaign)
    granted = _take_from_cap(session, campaign, event, requested, dry_run)
    result = earning.Effect(type="award_points", points=granted, campaign_id=campaign.id, action_id=action.id,
                            source=f"campaign:{campaign.code}",
                            details={"requested": requested, "capped": requested - granted, "mode": effect["mode"]})
    if granted > 0 and not dry_run:
        awards.append(_Award(campaign, action, event, result, effect.get("ledgerAccountId"),
                             effect.get("tierPoints", True) and effect.get("ledgerAccountId") is None))
    evaluation.effects.append(result)


def award_amount(effect: dict, event: earning.LoyaltyEvent, evaluation: earning.Evaluation, campaign) -> int:
    """The points an award_points effect asks for, before any cap."""
    mode = effect["mode"]
    if mode == "fixed":
        return effect["points"]
    if mode == "per_currency":
        if event.order is None:
            return 0
        spend = eligible_spend(event.order, effect.get("categories"))
        units = (spend / Decimal(effect["per"])).quantize(Decimal(1), rounding=ROUNDING[effect["rounding"]])
        return int(units) * effect["points"]
    # multiplier: extra points on top of what this campaign already awarded for the event
    base = sum(e.points for e in evaluation.effects if e.type == "award_points" and e.campaign_id == campaign.id)
    extra = (Decimal(base) * (Decimal(effect["multiplier"]) - 1)).quantize(Decimal(1), rounding=ROUND_FLOOR)
    return max(int(extra), 0)


def _take_from_cap(session: Session, campaign: Campaign, event: earning.LoyaltyEvent, requested: int,
                   dry_run: bool) -> int:
    """Grant up to `requested` within the member's monthly cap; the counter row is locked meanwhile."""
    if requested <= 0:
        return 0
    if campaign.monthly_points_cap is None:
        return requested
    period = time_context(event.occurred_at, campaign.timezone)
    period_key = f"{period['year']:04d}-{period['month']:02d}"
    stmt = (select(CampaignMonthlyAward).where(CampaignMonthlyAward.campaign_id == campaign.id,
                                               CampaignMonthlyAward.member_id == event.member.id,
                                               CampaignMonthlyAward.period == period_key))
    if dry_run:
        counter = session.scalars(stmt).first()
        return max(0, min(requested, campaign.monthly_points_cap - (counter.points if counter else 0)))
    counter = session.scalars(stmt.with_for_update()).first()
    if counter is None:
        try:
            with session.begin_nested():
                counter = CampaignMonthlyAward(campaign_id=campaign.id, member_id=event.member.id,
                                               period=period_key, points=0)
                session.add(counter)
        except IntegrityError:  # created by a concurrent event: lock the winner's row
            counter = session.scalars(stmt.with_for_update()).one()
    session.refresh(counter)
    granted = max(0, min(requested, campaign.monthly_points_cap - counter.points))
    counter.points += granted
    session.flush()
    return granted


@dataclass
class _Award:
    """An award_points effect granted but not posted yet (`post_awards`)."""

    campaign: Campaign
    action: CampaignAction
    event: earning.LoyaltyEvent
    effect: earning.Effect
    account_id: int | None  # the effect's own account; None: the campaign programme's points account
    tier_points: bool  # tier points too, in the programme's tier points account


def post_awards(session: Session, awards: list[_Award], actor: Actor, *, settle: bool = True) -> None:
    """Post the awards gathered so far (and empty the list): each award's points, and its tier points when it
    earns them, one ledger transaction each as before, all written set-based (`points.mint_to_members`, which settles the
    members' open debts when `settle`); then the CampaignEvaluation rows in one statement. Fills in each effect's
    transaction ids."""
    if not awards:
        return
    pending = list(awards)
    awards.clear()
    mints = []
    for award in pending:
        program = session.get(LoyaltyProgram, award.campaign.loyalty_program_id)
        reason = award_reason(award.campaign, award.action, award.event)
        mints.append((award.event.member, award.account_id or program.points_account_id, award.effect.points, reason))
        if award.tier_points:
            mints.append((award.event.member, program.tier_points_account_id, award.effect.points, reason))
    txs = iter(points.mint_to_members(session, pending[0].campaign.organization_id, mints, actor=actor, settle=settle))
    rows = []
    for award in pending:
        tx = next(txs)
        award.effect.ledger_transaction_id = tx.id
        if award.tier_points:
            award.effect.details["tierPointsTransactionId"] = next(txs).id
        rows.append(_evaluation_row(award.campaign, award.action, award.event, "award_points", award.effect.points,
                                    tx.id))
    session.execute(_INSERT_EVALUATIONS, rows)


def award_reason(campaign: Campaign, action: CampaignAction, event: earning.LoyaltyEvent) -> Reason:
    """What a campaign's points say on the ledger."""
    return Reason(description=campaign.name, tags=[f"campaign:{campaign.code}", f"action:{action.id}"],
                  external_id=event.order.external_id if event.order is not None else None,
                  external_event_date=event.occurred_at)


def _record(session, campaign, action, event, effect_type, amount, tx_id) -> None:
    session.execute(_INSERT_EVALUATIONS, [_evaluation_row(campaign, action, event, effect_type, amount, tx_id)])


_INSERT_EVALUATIONS = insert(CampaignEvaluation.__table__)  # Core, built once: not the ORM's bulk insert per row


def _evaluation_row(campaign, action, event, effect_type, amount, tx_id) -> dict[str, Any]:
    return {"organization_id": campaign.organization_id, "campaign_id": campaign.id, "action_id": action.id,
            "member_id": event.member.id, "event_type": event.event_type,
            "order_id": event.order.id if event.order is not None else None, "effect_type": effect_type,
            "points": amount, "ledger_transaction_id": tx_id, "created_at": utcnow()}


def _assign_coupon(session, campaign, action, effect, event, actor, dry_run) -> earning.Effect:
    from . import coupons

    result = earning.Effect(type="assign_coupon", campaign_id=campaign.id, action_id=action.id,
                           source=f"campaign:{campaign.code}", details={"couponBookId": effect["couponBookId"]})
    book = coupons.get_book(session, campaign.organization_id, effect["couponBookId"])
    refusal = coupons.assignment_refusal(session, event.member, book)
    if refusal is not None:  # e.g. the book's limit is reached: the campaign goes on without it
        result.details["refused"] = refusal.message
        return result
    if dry_run:
        return result
    assigned = coupons.assign_coupons(session, event.member, book, actor=actor)
    result.details["couponUsageIds"] = [u.id for u in assigned.usages]
    _record(session, campaign, action, event, "assign_coupon", 0, None)
    return result


# --- coupons on a purchase: used before the campaigns, their bonus minted after them -------------
#
# The documented order of a confirmed purchase (and of its simulation):
#   1. (priority 5) the member's EXTRAPOINT and MULTIPLIER coupons the purchase qualifies for are chosen
#      and used: their rows are locked before any wallet, as coupons/services.py's lock order says;
#   2. (priority 10) the campaigns award their points (the base);
#   3. (priority 15) the coupons' bonus is minted in one ledger line:
#      floor(base x multiplier) - base + extra points.
# So a x2 coupon doubles everything the campaigns gave for this purchase, and extra points are not
# multiplied. Missions and referrals come after (priority 20 and up).

@earning.handler(5, listens=earning.only_on(earning.PURCHASE_CONFIRMED))
def use_purchase_coupons(session: Session, event: earning.LoyaltyEvent, evaluation: earning.Evaluation, *,
                         actor: Actor, dry_run: bool = False) -> None:
    """Use the purchase's automatic coupons before any points move; their bonus comes at priority 15."""
    if event.event_type != earning.PURCHASE_CONFIRMED or event.order is None or event.coupon_books == []:
        return  # (no automatic coupon held: the order locked none, orders._confirm)
    from . import coupons

    order = event.order
    purchase = coupons.Purchase(
        total=eligible_spend(order), external_id=order.external_id,
        items=[{"sku": i.sku, "quantity": i.quantity, "unitPrice": str(i.unit_price),
                "category": i.product_category_code, "isDiscount": i.is_discount} for i in order.items],
        place=coupons.Place(location_code=order.location_code))
    applied = coupons.apply_purchase_coupons(session, event.member, purchase, actor=actor, dry_run=dry_run,
                                             now=event.occurred_at, held_books=event.coupon_books)
    if not applied.applied:
        return
    # Points are filled in by award_coupon_bonus once the campaigns have given theirs.
    evaluation.effects.append(earning.Effect(
        type="award_points", points=0, source="coupons",
        details={"couponBookIds": [a.book_id for a in applied.applied],
                 "couponUsageIds": [a.usage_id for a in applied.applied],
                 "multiplier": str(applied.multiplier), "extraPoints": applied.extra_points}))


@earning.handler(15, listens=earning.only_on(earning.PURCHASE_CONFIRMED))
def award_coupon_bonus(session: Session, event: earning.LoyaltyEvent, evaluation: earning.Evaluation, *,
                       actor: Actor, dry_run: bool = False) -> None:
    """The used coupons' bonus on what the campaigns awarded for this purchase (see the order above)."""
    effect = next((e for e in evaluation.effects if e.source == "coupons" and e.type == "award_points"), None)
    if effect is None or event.order is None:
        return
    from . import coupons

    base = sum(e.points for e in evaluation.effects if e.type == "award_points" and e is not effect)
    bonus = coupons.PurchaseCouponEffects(extra_points=effect.details["extraPoints"],
                                          multiplier=Decimal(effect.details["multiplier"]))
    extra = max(bonus.points_for(base) - base, 0)
    effect.points = extra
    effect.details["base"] = base
    if extra > 0 and not dry_run:
        program = event.program or default_program(session, event.organization_id)
        reason = Reason(description="Coupon bonus", tags=["coupon-bonus"], external_id=event.order.external_id,
                        external_event_date=event.occurred_at)
        minted, tier_minted = points.mint_to_members(session, event.organization_id, [
            (event.member, program.points_account_id, extra, reason),
            (event.member, program.tier_points_account_id, extra, reason)], actor=actor)
        effect.ledger_transaction_id = minted.id
        effect.details["tierPointsTransactionId"] = tier_minted.id
