"""Purchase orders: how purchases earn points, and how returns take them back.

Posting an order with an `externalId` that exists updates it. The status moves
created -> confirmed -> partially-returned -> returned, or to cancelled:

- confirming dispatches `member-purchase-order-confirmed` to the earning engine
  once; the points it awards are remembered on the order (`points_awarded`);
- cancelling or returning takes back all of them, a partial return takes back
  the returned share (cumulative `returnedTotal`, so a retry takes nothing);
- points already spent are burned as far as the wallet allows and the rest is
  recorded as a PointsDebt, never ignored.

Invariants:
- One order per (organisation, externalId); its row is locked while it changes,
  so a retried or concurrent post never awards or takes back twice.
- points_awarded = points earned by the order - points taken back (>= 0).
- A simulation runs the same evaluation in a dry run inside a rolled-back
  savepoint: it writes nothing.
- The `order.confirmed` audit entry keeps every effect the confirmation caused
  (campaign points and coupons, mission steps, tier changes), so an order's page
  can say why its points are what they are; take-backs are ledger burns that
  carry the order's externalId.
- An order's `systemUniqueKey` is an idempotency key (domain/idempotency.py):
  the same key with the same order replays the first result and moves nothing;
  with another order it is refused (IdempotencyKeyReused) and moves nothing.
- A purchase earns by what held at its `externalEventDate` (campaign windows,
  days, tiers, the monthly cap of its own month); one older than
  `late_purchase_window` when confirmed is refused (PurchaseTooLate), earning nothing.
- Staff act on an order (`act_on_order`) only with a reason, kept in the audit
  entry of the change it caused.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Numeric, String, UniqueConstraint, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from . import audit, earning, idempotency, outbox, ledger, tiers
from .actors import Actor
from .base import Base, get_owned, utcnow
from .errors import Conflict, DomainError, ValidationFailed
from .ledger import LedgerAccount, Reason
from .members import Member
from .organizations import default_program

CREATED, CONFIRMED, CANCELLED = "created", "confirmed", "cancelled"
RETURNED, PARTIALLY_RETURNED = "returned", "partially-returned"
STATUSES = (CREATED, CONFIRMED, CANCELLED, RETURNED, PARTIALLY_RETURNED)
FINAL = (CANCELLED, RETURNED)
Money = Numeric(14, 2)

# How old a purchase (its externalEventDate) may be when it is confirmed: a till offline longer
# than this must not earn by rules long gone. config.py LATE_PURCHASE_DAYS sets it (`configure`).
late_purchase_window = dt.timedelta(days=30)


def configure(*, late_purchase_days: int) -> None:
    global late_purchase_window
    late_purchase_window = dt.timedelta(days=late_purchase_days)


# --- errors: why an order cannot change as asked (409; a purchase too late to earn, 422) ---

class OrderOfAnotherMember(Conflict):
    code = "order_of_another_member"
    title = "This externalId belongs to another member's order"


class OrderClosed(Conflict):
    """The order is cancelled or returned: final, it changes no more."""

    code = "order_closed"
    title = "Order is closed"


class OrderAlreadyCancelled(OrderClosed):
    code = "order_already_cancelled"
    title = "Order was already cancelled"


class OrderAlreadyReturned(OrderClosed):
    code = "order_already_returned"
    title = "Order was already returned"


class OrderNotConfirmed(Conflict):
    code = "order_not_confirmed"
    title = "Only a confirmed order can be returned"


class OrderAlreadyConfirmed(Conflict):
    code = "order_already_confirmed"
    title = "Order was already confirmed"


class ReturnedTotalDecreased(Conflict):
    code = "returned_total_decreased"
    title = "returnedTotal is cumulative and cannot go down"


class PurchaseTooLate(ValidationFailed):
    code = "purchase_too_late"
    title = "The purchase is older than late purchases may be"


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"
    __table_args__ = (UniqueConstraint("organization_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    external_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32), default="purchase")
    status: Mapped[str] = mapped_column(String(32), default=CREATED)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total: Mapped[Decimal] = mapped_column(Money)
    discounted_total: Mapped[Decimal | None] = mapped_column(Money, default=None)
    returned_total: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    location_code: Mapped[str | None] = mapped_column(String(64), default=None)
    external_event_date: Mapped[dt.datetime | None] = mapped_column(default=None)
    points_earned: Mapped[int] = mapped_column(default=0)
    points_awarded: Mapped[int] = mapped_column(default=0)
    tier_points_earned: Mapped[int] = mapped_column(default=0)
    tier_points_awarded: Mapped[int] = mapped_column(default=0)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list["OrderItem"]] = relationship(order_by="OrderItem.line", cascade="all, delete-orphan",
                                                    lazy="selectin")


class OrderItem(Base):
    __tablename__ = "purchase_order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    line: Mapped[int] = mapped_column(default=0)
    sku: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(default=1)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    product_category_code: Mapped[str | None] = mapped_column(String(100), default=None)
    is_discount: Mapped[bool] = mapped_column(Boolean, default=False)


class PointsDebt(Base):
    """Points that a return should have taken back but the member had already spent."""

    __tablename__ = "points_debts"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_orders.id"), default=None)
    amount: Mapped[int]
    settled: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass
class ItemInput:
    sku: str
    quantity: int
    unit_price: Decimal
    product_category_code: str | None = None
    is_discount: bool = False


@dataclass
class OrderInput:
    external_id: str
    status: str
    total: Decimal
    items: list[ItemInput] = field(default_factory=list)
    type: str = "purchase"
    discounted_total: Decimal | None = None
    returned_total: Decimal | None = None
    location_code: str | None = None
    external_event_date: dt.datetime | None = None
    currency: str = "EUR"
    system_unique_key: str | None = None


@dataclass
class OrderResult:
    order: PurchaseOrder
    evaluation: earning.Evaluation
    points_taken_back: int = 0
    debt_recorded: int = 0
    changed: bool = True
    replayed: bool = False  # the systemUniqueKey was seen with this same order: the first result, again


def record_order(session: Session, member: Member, data: OrderInput, *, actor: Actor) -> OrderResult:
    """Create or update an order by externalId and move points as its status demands.

    Raises ValidationFailed, OrderOfAnotherMember, OrderAlreadyCancelled or OrderAlreadyReturned
    (both OrderClosed), OrderNotConfirmed (a return before confirmation), ReturnedTotalDecreased,
    IdempotencyKeyReused (the systemUniqueKey came before with another order).
    """
    _validate(data)
    performed: list[OrderResult] = []

    def perform() -> dict[str, Any]:
        performed.append(_record(session, member, data, actor))
        return _result_record(performed[0])

    outcome = idempotency.run_once(session, member.organization_id, data.system_unique_key, "order.record",
                                   _order_params(member, data), perform)
    if performed:
        return performed[0]
    return _replayed_result(session, member.organization_id, outcome.result)


def _record(session: Session, member: Member, data: OrderInput, actor: Actor) -> OrderResult:
    order = _locked_order(session, member.organization_id, data.external_id)
    if order is None:
        order = _insert(session, member, data)
        if order is None:  # a concurrent post created it first
            order = _locked_order(session, member.organization_id, data.external_id)
        else:
            audit.record(session, actor, "order.created", order)
            outbox.emit(session, order.organization_id, "member-purchase-order-created", member_id=member.id,
                        orderId=order.id, externalId=order.external_id)
            return _transition(session, member, order, data, actor, previous=CREATED, new=True)
    if order.member_id != member.id:
        raise OrderOfAnotherMember("This externalId belongs to another member's order", field="externalId")
    return _transition(session, member, order, data, actor, previous=order.status, new=False)


def simulate(session: Session, member: Member, data: OrderInput, *, actor: Actor) -> earning.Evaluation:
    """What confirming this order would award, writing nothing."""
    _validate(data)
    _refuse_too_late(data)
    order = PurchaseOrder(organization_id=member.organization_id, member_id=member.id, external_id=data.external_id,
                          type=data.type, status=CONFIRMED, total=data.total, discounted_total=data.discounted_total,
                          location_code=data.location_code, currency=data.currency)
    order.items = [OrderItem(sku=i.sku, quantity=i.quantity, unit_price=i.unit_price,
                             product_category_code=i.product_category_code, is_discount=i.is_discount)
                   for i in data.items]
    savepoint = session.begin_nested()
    try:
        return earning.dispatch(session, _purchase_event(member, order, data), actor=actor, dry_run=True)
    finally:
        savepoint.rollback()


def import_orders(session: Session, organization_id: int,
                  rows: list[tuple[Member | None, OrderInput | None, DomainError | None]],
                  *, actor: Actor) -> list[dict]:
    """Each row on its own: one bad order does not stop the others, and a failed row leaves nothing behind.
    A row may come with the error that already refused it (its member was not found): it is reported as failed.

    Safe to re-run after a partial failure: a row already applied is "unchanged" (by its externalId)
    or "replayed" (by its systemUniqueKey) and earns nothing more; `pointsEarned` is what this row earned.
    """
    results = []
    for index, (member, data, error) in enumerate(rows):
        try:
            if error is not None:
                raise error
            with session.begin_nested():
                result = record_order(session, member, data, actor=actor)
        except DomainError as err:
            results.append({"index": index, "status": "failed", "externalId": data.external_id if data else None,
                            "error": {"status": err.status, "title": err.title, "detail": err.message,
                                      "errors": err.errors}})
            continue
        acted = result.changed and not result.replayed
        results.append({"index": index, "status": "ok", "externalId": data.external_id,
                        "outcome": "replayed" if result.replayed else "applied" if acted else "unchanged",
                        "orderId": result.order.id, "orderStatus": result.order.status,
                        "pointsEarned": result.evaluation.points_awarded if acted else 0,
                        "pointsTakenBack": result.points_taken_back if acted else 0,
                        "pointsAwarded": result.order.points_awarded})
    return results


def get_order(session: Session, organization_id: int, order_id: int) -> PurchaseOrder:
    return get_owned(session, PurchaseOrder, order_id, organization_id, what="Order", field="orderId")


def items_of(session: Session, order_id: int) -> list[OrderItem]:
    return list(session.scalars(select(OrderItem).where(OrderItem.order_id == order_id).order_by(OrderItem.line)))


def orders_of(member_id: int):
    return select(PurchaseOrder).where(PurchaseOrder.member_id == member_id)


def outstanding_debt(session: Session, member_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(PointsDebt.amount - PointsDebt.settled), 0))
                              .where(PointsDebt.member_id == member_id)) or 0)


# --- staff actions and the console's reading ----------------------------------------

CONFIRM, CANCEL, RETURN, PARTIAL_RETURN = "confirm", "cancel", "return", "partial-return"
ACTION_TARGETS = {CONFIRM: CONFIRMED, CANCEL: CANCELLED, RETURN: RETURNED, PARTIAL_RETURN: PARTIALLY_RETURNED}
MAX_REASON = 500


def act_on_order(session: Session, order: PurchaseOrder, action: str, *, reason: str, actor: Actor,
                 returned_total: Decimal | None = None) -> OrderResult:
    """A staff action: confirm, cancel, return all, or return part (`returned_total`, cumulative).

    The same transitions as an order posted again (points earned, taken back, debts), with the
    reason kept in the audit entry. Raises ValidationFailed (reason, action, returnedTotal),
    OrderAlreadyConfirmed, OrderNotConfirmed, OrderClosed (cancelled or returned).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Give a reason", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"A reason has at most {MAX_REASON} characters", field="reason")
    if action not in ACTION_TARGETS:
        raise ValidationFailed(f"action must be one of {', '.join(ACTION_TARGETS)}", field="action")
    locked = _locked_order(session, order.organization_id, order.external_id)
    if action == CONFIRM and locked.status in (CONFIRMED, PARTIALLY_RETURNED):
        raise OrderAlreadyConfirmed("The order is already confirmed", field="action")
    if action == PARTIAL_RETURN:
        if returned_total is None:
            raise ValidationFailed("Give the returned amount", field="returnedTotal")
        if locked.status in (CONFIRMED, PARTIALLY_RETURNED) and returned_total <= locked.returned_total:
            raise ValidationFailed(f"More than the {locked.returned_total} already returned must come back",
                                   field="returnedTotal")
    member = session.get(Member, locked.member_id)
    data = OrderInput(external_id=locked.external_id, status=ACTION_TARGETS[action], total=locked.total,
                      items=[ItemInput(sku=i.sku, quantity=i.quantity, unit_price=i.unit_price,
                                       product_category_code=i.product_category_code, is_discount=i.is_discount)
                             for i in locked.items],
                      type=locked.type, discounted_total=locked.discounted_total,
                      returned_total=returned_total if action == PARTIAL_RETURN else None,
                      location_code=locked.location_code, external_event_date=locked.external_event_date,
                      currency=locked.currency)
    _validate(data)
    return _transition(session, member, locked, data, actor, previous=locked.status, new=False, reason=reason)


def actions_for(order: PurchaseOrder) -> list[str]:
    """The staff actions the order's status allows (for offering only those)."""
    if order.status == CREATED:
        return [CONFIRM, CANCEL]
    if order.status in (CONFIRMED, PARTIALLY_RETURNED):
        return [PARTIAL_RETURN, RETURN, CANCEL]
    return []


def list_query(organization_id: int, *, member_id: int | None = None, member: str | None = None,
               status: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
               location_code: str | None = None):
    """The organisation's orders, filtered: `member` is an email or a loyalty member id; `since`
    and `until` bound when the order was recorded (until excluded). Raises ValidationFailed(status)."""
    stmt = select(PurchaseOrder).where(PurchaseOrder.organization_id == organization_id)
    if member_id is not None:
        stmt = stmt.where(PurchaseOrder.member_id == member_id)
    if member:
        term = member.strip()
        stmt = stmt.join(Member, Member.id == PurchaseOrder.member_id).where(
            (Member.email == term.lower()) | (Member.loyalty_member_id == term))
    if status:
        if status not in STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}", field="status")
        stmt = stmt.where(PurchaseOrder.status == status)
    if since is not None:
        stmt = stmt.where(PurchaseOrder.created_at >= since)
    if until is not None:
        stmt = stmt.where(PurchaseOrder.created_at < until)
    if location_code:
        stmt = stmt.where(PurchaseOrder.location_code == location_code)
    return stmt


def location_codes(session: Session, organization_id: int) -> list[str]:
    """The stores (location codes) the organisation's orders came from."""
    return list(session.scalars(select(PurchaseOrder.location_code).distinct()
                                .where(PurchaseOrder.organization_id == organization_id,
                                       PurchaseOrder.location_code.is_not(None))
                                .order_by(PurchaseOrder.location_code)))


@dataclass
class OrderEffects:
    """What an order caused: the engine's effects at confirmation, and every ledger movement
    carrying its externalId (points earned, and taken back on a cancel or return)."""

    effects: list[earning.Effect]
    tier_change: tuple[int | None, int | None] | None
    transactions: list[ledger.LedgerTransaction]
    history: list[audit.AuditEntry]


def effects_of(session: Session, order: PurchaseOrder) -> OrderEffects:
    history = list(session.scalars(select(audit.AuditEntry).where(
        audit.AuditEntry.organization_id == order.organization_id, audit.AuditEntry.target_type == "purchaseorder",
        audit.AuditEntry.target_id == str(order.id)).order_by(audit.AuditEntry.id)))
    confirmed = next((e for e in history if e.action == "order.confirmed"), None)
    details = confirmed.details if confirmed is not None else {}
    effects = [earning.Effect.from_dict(e) for e in details.get("effects", [])]
    change = details.get("tierChange")
    wallets = select(ledger.Wallet.id).where(ledger.Wallet.member_id == order.member_id)
    transactions = list(session.scalars(select(ledger.LedgerTransaction).where(
        ledger.LedgerTransaction.organization_id == order.organization_id,
        ledger.LedgerTransaction.external_id == order.external_id,
        ledger.LedgerTransaction.from_wallet_id.in_(wallets) | ledger.LedgerTransaction.to_wallet_id.in_(wallets))
        .order_by(ledger.LedgerTransaction.id)))
    return OrderEffects(effects=effects, tier_change=tuple(change) if change else None, transactions=transactions,
                        history=history)


# --- internals ---------------------------------------------------------------------

def _order_params(member: Member, data: OrderInput) -> dict[str, Any]:
    params = asdict(data)
    del params["system_unique_key"]
    return {"memberId": member.id, **params}


def _result_record(result: OrderResult) -> dict[str, Any]:
    return {"orderId": result.order.id, "changed": result.changed, "evaluation": result.evaluation.as_dict(),
            "pointsTakenBack": result.points_taken_back, "debtRecorded": result.debt_recorded}


def _replayed_result(session: Session, organization_id: int, stored: dict[str, Any]) -> OrderResult:
    evaluation = stored["evaluation"]
    effects = [earning.Effect.from_dict(e) for e in evaluation["effects"]]
    return OrderResult(order=get_order(session, organization_id, stored["orderId"]),
                       evaluation=earning.Evaluation(effects=effects, errors=evaluation["errors"]),
                       points_taken_back=stored["pointsTakenBack"], debt_recorded=stored["debtRecorded"],
                       changed=stored["changed"], replayed=True)


def _validate(data: OrderInput) -> None:
    if data.status not in STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}", field="status")
    if not data.external_id or not data.external_id.strip():
        raise ValidationFailed("externalId is required", field="externalId")
    if data.total < 0:
        raise ValidationFailed("total cannot be negative", field="total")
    if data.discounted_total is not None and not (0 <= data.discounted_total <= data.total):
        raise ValidationFailed("discountedTotal must be between 0 and total", field="discountedTotal")
    if data.returned_total is not None and not (0 <= data.returned_total <= data.total):
        raise ValidationFailed("returnedTotal must be between 0 and total", field="returnedTotal")
    for index, item in enumerate(data.items):
        if item.quantity <= 0:
            raise ValidationFailed("quantity must be at least 1", field=f"items[{index}].quantity")
        if item.unit_price < 0 and not item.is_discount:
            raise ValidationFailed("A negative unitPrice is a discount line: set isDiscount",
                                   field=f"items[{index}].unitPrice")


def _refuse_too_late(data: OrderInput) -> None:
    if data.external_event_date is not None and data.external_event_date < utcnow() - late_purchase_window:
        raise PurchaseTooLate(f"externalEventDate is more than {late_purchase_window.days} days ago: "
                              "too late to earn", field="externalEventDate")


def _locked_order(session: Session, organization_id: int, external_id: str) -> PurchaseOrder | None:
    return session.scalars(select(PurchaseOrder).where(PurchaseOrder.organization_id == organization_id,
                                                       PurchaseOrder.external_id == external_id)
                           .with_for_update().execution_options(populate_existing=True)).first()


def _insert(session: Session, member: Member, data: OrderInput) -> PurchaseOrder | None:
    order = PurchaseOrder(organization_id=member.organization_id, member_id=member.id, external_id=data.external_id,
                          type=data.type, status=CREATED, total=data.total, discounted_total=data.discounted_total,
                          location_code=data.location_code, external_event_date=data.external_event_date,
                          currency=data.currency)
    try:
        with session.begin_nested():
            session.add(order)
    except IntegrityError:
        return None
    _replace_items(session, order, data.items)
    return order


def _replace_items(session: Session, order: PurchaseOrder, items: list[ItemInput]) -> None:
    order.items = [OrderItem(line=n, sku=i.sku, quantity=i.quantity, unit_price=i.unit_price,
                             product_category_code=i.product_category_code, is_discount=i.is_discount)
                   for n, i in enumerate(items)]
    session.flush()


def _transition(session: Session, member: Member, order: PurchaseOrder, data: OrderInput, actor: Actor, *,
                previous: str, new: bool, reason: str = "") -> OrderResult:
    target = data.status
    result = OrderResult(order=order, evaluation=earning.Evaluation(), changed=new)
    if previous in FINAL:
        if target == previous:
            result.changed = False
            return result
        closed = OrderAlreadyCancelled if previous == CANCELLED else OrderAlreadyReturned
        raise closed(f"The order is {previous}; it cannot become {target}", field="status")
    if previous == CREATED:
        if target == CREATED:
            if not new:
                _update_open_order(session, order, data)
                result.changed = True
            return result
        if target == CANCELLED:
            _set_status(session, order, CANCELLED, actor, reason)
            result.changed = True
            return result
        if target in (RETURNED, PARTIALLY_RETURNED):
            raise OrderNotConfirmed("Only a confirmed order can be returned", field="status")
        if not new:
            _update_open_order(session, order, data)
        _confirm(session, member, order, data, actor, result, reason)
        return result
    # previous is confirmed or partially-returned
    if target == CONFIRMED or target == CREATED:
        result.changed = False  # a retry of the confirmation, or a late "created": nothing to do
        return result
    if target in (CANCELLED, RETURNED):
        _take_back(session, member, order, order.points_awarded, order.tier_points_awarded, actor, result,
                   why="cancelled" if target == CANCELLED else "returned")
        order.returned_total = order.total if target == RETURNED else order.returned_total
        _set_status(session, order, target, actor, reason)
        result.changed = True
        return result
    # partial return: take back the returned share of what the order earned
    returned = data.returned_total if data.returned_total is not None else _returned_from_items(order, data)
    if returned < order.returned_total:
        raise ReturnedTotalDecreased("returnedTotal is cumulative and cannot go down", field="returnedTotal")
    if returned == order.returned_total and previous == PARTIALLY_RETURNED:
        result.changed = False
        return result
    share = (returned / order.total) if order.total else Decimal(1)
    keep_points = int((order.points_earned * (1 - share)).to_integral_value(rounding=ROUND_FLOOR))
    keep_tier = int((order.tier_points_earned * (1 - share)).to_integral_value(rounding=ROUND_FLOOR))
    _take_back(session, member, order, max(order.points_awarded - keep_points, 0),
               max(order.tier_points_awarded - keep_tier, 0), actor, result, why="partially returned")
    order.returned_total = returned
    _set_status(session, order, RETURNED if returned >= order.total else PARTIALLY_RETURNED, actor, reason)
    result.changed = True
    return result


def _update_open_order(session: Session, order: PurchaseOrder, data: OrderInput) -> None:
    order.total, order.discounted_total = data.total, data.discounted_total
    order.location_code, order.external_event_date = data.location_code, data.external_event_date
    order.type, order.currency = data.type, data.currency
    _replace_items(session, order, data.items)


def _returned_from_items(order: PurchaseOrder, data: OrderInput) -> Decimal:
    """Without returnedTotal: the items posted now are what was kept; the rest was returned."""
    kept = sum((i.unit_price * i.quantity for i in data.items), Decimal(0))
    return max(order.total - kept, Decimal(0))


def _confirm(session: Session, member: Member, order: PurchaseOrder, data: OrderInput, actor: Actor,
             result: OrderResult, reason: str = "") -> None:
    _refuse_too_late(data)
    order.status = CONFIRMED
    order.confirmed_at = utcnow()
    session.flush()
    program = default_program(session, member.organization_id)
    tier_before, _ = tiers.current_tier(session, member.id, program.id)
    evaluation = earning.dispatch(session, _purchase_event(member, order, data), actor=actor)
    tier_after, _ = tiers.current_tier(session, member.id, program.id)
    earned = sum(e.points for e in evaluation.effects if e.type == "award_points"
                 and _account_of(session, e.ledger_transaction_id) == program.points_account_id)
    tier_earned = sum(_tier_points_of(session, e) for e in evaluation.effects if e.type == "award_points")
    order.points_earned = order.points_awarded = earned
    order.tier_points_earned = order.tier_points_awarded = tier_earned
    result.evaluation = evaluation
    audit.record(session, actor, "order.confirmed", order, points=earned, effects=evaluation.as_dict()["effects"],
                 tierChange=([getattr(tier_before, "id", None), getattr(tier_after, "id", None)]
                             if tier_before is not tier_after else None), **_reason(reason))
    outbox.emit(session, order.organization_id, "member-purchase-order-confirmed", member_id=member.id,
                orderId=order.id, externalId=order.external_id, points=earned)
    session.flush()


def _account_of(session: Session, tx_id: int | None) -> int | None:
    if tx_id is None:
        return None
    return session.get(ledger.LedgerTransaction, tx_id).ledger_account_id  # known to the session: no query


def _tier_points_of(session: Session, effect: earning.Effect) -> int:
    return effect.points if effect.details.get("tierPointsTransactionId") else 0


def _purchase_event(member: Member, order: PurchaseOrder, data: OrderInput) -> earning.LoyaltyEvent:
    return earning.LoyaltyEvent(organization_id=member.organization_id, member=member,
                               event_type=earning.PURCHASE_CONFIRMED,
                               payload={"externalId": order.external_id, "total": str(order.total)},
                               occurred_at=data.external_event_date or utcnow(), order=order,
                               location_code=order.location_code)


def _take_back(session: Session, member: Member, order: PurchaseOrder, amount: int, tier_amount: int, actor: Actor,
               result: OrderResult, *, why: str) -> None:
    program = default_program(session, member.organization_id)
    for account_id, due, attr in ((program.points_account_id, amount, "points_awarded"),
                                  (program.tier_points_account_id, tier_amount, "tier_points_awarded")):
        if due <= 0:
            continue
        account = session.get(LedgerAccount, account_id)
        wallet = ledger.member_wallet(session, account, member.id)
        session.refresh(wallet)
        burnable = min(due, max(wallet.available, 0))
        if burnable > 0:
            reason = Reason(description=f"Order {order.external_id} {why}", tags=["order-return"],
                            external_id=order.external_id)
            # Corrections apply even to locked accounts.
            ledger.burn(session, account, wallet, burnable, actor=actor, reason=reason, whatever_member_status=True)
        shortfall = due - burnable
        if shortfall > 0:
            session.add(PointsDebt(organization_id=member.organization_id, member_id=member.id,
                                   ledger_account_id=account_id, order_id=order.id, amount=shortfall))
            if account_id == program.points_account_id:
                result.debt_recorded += shortfall
        setattr(order, attr, getattr(order, attr) - due)
        if account_id == program.points_account_id:
            result.points_taken_back += due
    session.flush()


def _set_status(session: Session, order: PurchaseOrder, status: str, actor: Actor, reason: str = "") -> None:
    order.status = status
    order.updated_at = utcnow()
    session.flush()
    audit.record(session, actor, f"order.{status.replace('-', '_')}", order, returnedTotal=str(order.returned_total),
                 **_reason(reason))
    outbox.emit(session, order.organization_id, f"member-purchase-order-{status}", member_id=order.member_id,
                orderId=order.id, externalId=order.external_id)



def _reason(reason: str) -> dict[str, str]:
    return {"reason": reason} if reason else {}
