"""Purchase orders: how purchases earn points, and how returns take them back.

Posting an order with an `externalId` that exists updates it. The status moves
created -> confirmed -> partially-returned -> returned, or to cancelled:

- confirming dispatches `member-purchase-order-confirmed` to the earning engine
  once; the points it awards are remembered on the order (`points_awarded`);
- cancelling or returning takes back all of them, a partial return takes back
  the returned share (cumulative `returnedTotal`, so a retry takes nothing);
- points already spent are burned as far as the wallet allows and the rest is
  recorded as a PointsDebt, never ignored; open debts are settled from the
  member's next earnings of any kind (every `points.mint_to_member`: purchases,
  missions, referrals, campaigns on custom events, grants, staff corrections),
  oldest first, one ledger line each (`settle_debts`).
- a partial return moves only the returned share of points and tier points
  (and of the redeemed ones, given back); mission
  progress, referrals and awarded coupons stay until the order is wholly
  returned. A mission counts events (one per matching purchase, or a
  campaign's fixed `amount`), never the money spent, so a purchase partly
  returned still counted once and there is no share to take back; a matcher
  (`order.total >= 20`) is judged at confirmation and not again.

Paying with points (`pointsRedeemed`, worth `pointsRedeemedValue` in money; either one
alone is converted at the programme's `point_value`): confirming burns them in the same transaction that earns, or
captures the till's reservation (`reservationId`, domain/holds.py; fewer points
than reserved when the basket shrank, the rest released). Not enough points is
PointsExceedBalance naming the balance, and nothing is earned or burned. The rule
for earning: only the part paid in money earns (`campaigns.eligible_spend` takes
`pointsRedeemedValue` off the spend, and a category's lines in the same share);
a campaign that says otherwise awards a `fixed` amount, which does not depend on
the spend. A cancel gives all redeemed points back; a return gives back the
returned share (floor(pointsRedeemed x returnedTotal / total), all on a full
return) before taking back what the order earned.

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
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Boolean, Exists, ForeignKey, Numeric, String, UniqueConstraint, bindparam, exists, func, insert, select, true, update
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from . import audit, earning, holds, idempotency, outbox, ledger, row_buffer, tiers
from .actors import Actor
from .base import (Base, OwnedRow, adopt_inserted, adopt_updated, get_owned, in_utc, keep, memo_follows_rows, session_memo,
                   upsert_insert, utcnow)
from .errors import Conflict, DomainError, NotFound, ValidationFailed
from .ledger import MAX_AMOUNT, LedgerAccount, Reason
from .members import Member
from .organizations import LoyaltyProgram, default_program, default_program_select, note_program_accounts

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
    """An update sends a lower `returnedTotal` than the order has: it is the total returned so far, never a delta."""

    code = "returned_total_decreased"
    title = "returnedTotal is cumulative and cannot go down"


class PurchaseTooLate(ValidationFailed):
    """A purchase is confirmed more than `late_purchase_window` (30 days unless configured) after its
    `externalEventDate`: it is refused and earns nothing."""

    code = "purchase_too_late"
    title = "The purchase is older than late purchases may be"


class PurchaseOrder(OwnedRow, Base):
    """A purchase as the shop reports it, one per (organisation, `external_id`). It keeps what it earned and what it
    still awards after returns (`*_earned`, `*_awarded`) and the points paid with, so a change moves the difference."""

    __tablename__ = "purchase_orders"
    __table_args__ = (UniqueConstraint("organization_id", "external_id"),)

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
    # Paid with points: how many, what they were worth in money, how many were given back by returns.
    points_redeemed: Mapped[int] = mapped_column(default=0, server_default="0")
    points_redeemed_value: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    points_refunded: Mapped[int] = mapped_column(default=0, server_default="0")
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("points_holds.id"), default=None)
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


class PointsDebt(OwnedRow, Base):
    """Points that a return should have taken back but the member had already spent."""

    __tablename__ = "points_debts"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_orders.id"), default=None)
    amount: Mapped[int]
    settled: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


memo_follows_rows(PointsDebt, "debt-free", lambda debt: debt.member_id)  # settle_debts: known to owe nothing


@dataclass
class ItemInput:
    """A basket line as a face sends it (the API's `items[]`), checked and stored as an OrderItem."""

    sku: str
    quantity: int
    unit_price: Decimal
    product_category_code: str | None = None
    is_discount: bool = False


@dataclass
class OrderInput:
    """An order as a face sends it (the API's body, with Python names); `record_order` checks and applies it."""

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
    points_redeemed: int | None = None  # None: all the reservation holds, or none without one
    points_redeemed_value: Decimal | None = None
    hold_id: int | None = None


@dataclass
class OrderResult:
    order: PurchaseOrder
    evaluation: earning.Evaluation
    points_taken_back: int = 0
    debt_recorded: int = 0
    points_given_back: int = 0  # redeemed points paid back by a cancel or return
    changed: bool = True
    replayed: bool = False  # the systemUniqueKey was seen with this same order: the first result, again
    created: bool = False  # the order is new: no return has left it owing anything (its open debt is 0)


def record_order(session: Session, member: Member, data: OrderInput, *, actor: Actor) -> OrderResult:
    """Create or update an order by externalId and move points as its status demands.

    Raises ValidationFailed, OrderOfAnotherMember, OrderAlreadyCancelled or OrderAlreadyReturned
    (both OrderClosed), OrderNotConfirmed (a return before confirmation), ReturnedTotalDecreased,
    IdempotencyKeyReused (the systemUniqueKey came before with another order).
    """
    _validate(data)
    performed: list[OrderResult] = []

    def perform() -> dict[str, Any]:
        with row_buffer.together(session):  # its audit entries and events in one statement each
            performed.append(_record(session, member, data, actor))
        return _result_record(performed[0])

    outcome = idempotency.run_once(session, member.organization_id, data.system_unique_key, "order.record",
                                   _order_params(member, data), perform)
    if performed:
        return performed[0]
    return _replayed_result(session, member.organization_id, outcome.result)


def _record(session: Session, member: Member, data: OrderInput, actor: Actor) -> OrderResult:
    # Most orders are new: inserted first (one statement; nothing when the externalId is taken), unless what they
    # pay with points needs a lookup that an existing order would not ask for.
    inserted = _insert(session, member, data) if _paid_without_lookups(data) else None
    if inserted is None:
        order = _locked_order(session, member.organization_id, data.external_id)
        if order is None:
            inserted = _insert(session, member, data)
            if inserted is None:  # a concurrent post created it first
                order = _locked_order(session, member.organization_id, data.external_id)
    if inserted is not None:
        return _created(session, member, inserted, data, actor)
    if order.member_id != member.id:
        raise OrderOfAnotherMember("This externalId belongs to another member's order", field="externalId")
    return _transition(session, member, order, data, actor, previous=order.status, new=False)


def _created(session: Session, member: Member, order: PurchaseOrder, data: OrderInput, actor: Actor) -> OrderResult:
    audit.record_now(session, actor, "order.created", order)
    outbox.insert_events(session, [outbox.event_row(order.organization_id, "member-purchase-order-created",
                                                    member_id=member.id, orderId=order.id,
                                                    externalId=order.external_id)])
    result = _transition(session, member, order, data, actor, previous=CREATED, new=True)
    result.created = True
    return result


def _paid_without_lookups(data: OrderInput) -> bool:
    """Can what the order pays with points be known without reading anything (no reservation, no conversion)?"""
    redeemed, value = data.points_redeemed, data.points_redeemed_value
    return data.hold_id is None and not ((redeemed is None and value) or (redeemed and value is None))


def simulate(session: Session, member: Member, data: OrderInput, *, actor: Actor) -> earning.Evaluation:
    """What confirming this order would award, writing nothing."""
    _validate(data)
    _refuse_too_late(data)
    order = PurchaseOrder(organization_id=member.organization_id, member_id=member.id, external_id=data.external_id,
                          type=data.type, status=CONFIRMED, total=data.total, discounted_total=data.discounted_total,
                          location_code=data.location_code, currency=data.currency)
    _set_points_paid(session, member, order, data)
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


def outstanding_debt(session: Session, member_id: int, account_id: int | None = None) -> int:
    """What the member still owes (in one account when given): debts less what was settled."""
    stmt = select(func.coalesce(func.sum(PointsDebt.amount - PointsDebt.settled), 0)).where(
        PointsDebt.member_id == member_id)
    if account_id is not None:
        stmt = stmt.where(PointsDebt.ledger_account_id == account_id)
    return int(session.scalar(stmt) or 0)


def debts_of(session: Session, member_id: int) -> list[PointsDebt]:
    """The member's debts, oldest first, settled ones too."""
    return list(session.scalars(select(PointsDebt).where(PointsDebt.member_id == member_id).order_by(PointsDebt.id)))


def open_debts_by_order(session: Session, orders: list[PurchaseOrder]) -> dict[int, int]:
    """Per order, the points (of its programme's points account) its returns left owing; one query."""
    if not orders:
        return {}
    program = default_program(session, orders[0].organization_id)
    rows = session.execute(select(PointsDebt.order_id, func.sum(PointsDebt.amount - PointsDebt.settled))
                           .where(PointsDebt.order_id.in_([o.id for o in orders]),
                                  PointsDebt.ledger_account_id == program.points_account_id)
                           .group_by(PointsDebt.order_id))
    return {order_id: int(owed) for order_id, owed in rows}


@dataclass
class OrderLine:
    transaction_id: int
    created_at: dt.datetime
    type: str
    description: str
    amount: int  # signed, as the member's wallet saw it


@dataclass
class OrderLines:
    order: PurchaseOrder
    lines: list[OrderLine]


def orders_with_lines(session: Session, member_id: int, account_id: int, *, limit: int = 5) -> list[OrderLines]:
    """The member's latest orders, each with the posted movements of its externalId on the member's wallet
    in the account (paid with points, earned, given back, taken back, a debt settled); three queries."""
    recent = list(session.scalars(select(PurchaseOrder).where(PurchaseOrder.member_id == member_id)
                                  .order_by(PurchaseOrder.id.desc()).limit(limit)))
    if not recent:
        return []
    wallet_id = select(ledger.Wallet.id).where(ledger.Wallet.member_id == member_id,
                                               ledger.Wallet.ledger_account_id == account_id).scalar_subquery()
    rows = session.execute(
        select(ledger.LedgerTransaction.id, ledger.LedgerTransaction.created_at, ledger.LedgerTransaction.type,
               ledger.LedgerTransaction.description, ledger.LedgerTransaction.external_id, ledger.LedgerEntry.amount)
        .join(ledger.LedgerEntry, ledger.LedgerEntry.transaction_id == ledger.LedgerTransaction.id)
        .where(ledger.LedgerEntry.wallet_id == wallet_id,
               ledger.LedgerTransaction.organization_id == recent[0].organization_id,
               ledger.LedgerTransaction.external_id.in_([o.external_id for o in recent]))
        .order_by(ledger.LedgerEntry.id))
    by_order: dict[str, list[OrderLine]] = {}
    for tx_id, created_at, kind, description, external_id, amount in rows:
        by_order.setdefault(external_id, []).append(OrderLine(tx_id, created_at, kind, description or "", amount))
    return [OrderLines(order, by_order.get(order.external_id, [])) for order in recent]


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
                      currency=locked.currency, points_redeemed=locked.points_redeemed,
                      points_redeemed_value=locked.points_redeemed_value, hold_id=locked.hold_id)
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
    # Inside record_order (a return) the order's audit entries buffered so far are written before this read
    # (row_buffer: a read of a buffered table sees its rows).
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
    for name in ("points_redeemed", "points_redeemed_value", "hold_id"):  # absent: the fingerprint of before
        if params[name] is None:
            del params[name]
    return {"memberId": member.id, **params}


def _result_record(result: OrderResult) -> dict[str, Any]:
    return {"orderId": result.order.id, "changed": result.changed, "evaluation": result.evaluation.as_dict(),
            "pointsTakenBack": result.points_taken_back, "debtRecorded": result.debt_recorded,
            "pointsGivenBack": result.points_given_back}


def _replayed_result(session: Session, organization_id: int, stored: dict[str, Any]) -> OrderResult:
    evaluation = stored["evaluation"]
    effects = [earning.Effect.from_dict(e) for e in evaluation["effects"]]
    return OrderResult(order=get_order(session, organization_id, stored["orderId"]),
                       evaluation=earning.Evaluation(effects=effects, errors=evaluation["errors"]),
                       points_taken_back=stored["pointsTakenBack"], debt_recorded=stored["debtRecorded"],
                       points_given_back=stored.get("pointsGivenBack", 0),
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
    _validate_points_paid(data)
    for index, item in enumerate(data.items):
        if item.quantity <= 0:
            raise ValidationFailed("quantity must be at least 1", field=f"items[{index}].quantity")
        if item.unit_price < 0 and not item.is_discount:
            raise ValidationFailed("A negative unitPrice is a discount line: set isDiscount",
                                   field=f"items[{index}].unitPrice")


def _validate_points_paid(data: OrderInput) -> None:
    redeemed, value = data.points_redeemed, data.points_redeemed_value
    if redeemed is not None and (isinstance(redeemed, bool) or not 0 <= redeemed <= MAX_AMOUNT):
        raise ValidationFailed(f"pointsRedeemed must be between 0 and {MAX_AMOUNT}", field="pointsRedeemed")
    spend = data.discounted_total if data.discounted_total is not None else data.total
    if value is not None and not (0 <= value <= spend):
        raise ValidationFailed("pointsRedeemedValue must be between 0 and the order's (discounted) total",
                               field="pointsRedeemedValue")


def _refuse_too_late(data: OrderInput) -> None:
    if data.external_event_date is not None and data.external_event_date < utcnow() - late_purchase_window:
        raise PurchaseTooLate(f"externalEventDate is more than {late_purchase_window.days} days ago: "
                              "too late to earn", field="externalEventDate")


def _locked_order(session: Session, organization_id: int, external_id: str) -> PurchaseOrder | None:
    return session.scalars(select(PurchaseOrder).where(PurchaseOrder.organization_id == organization_id,
                                                       PurchaseOrder.external_id == external_id)
                           .with_for_update().execution_options(populate_existing=True)).first()


def _insert(session: Session, member: Member, data: OrderInput) -> PurchaseOrder | None:
    """The new order, in one statement (INSERT ... ON CONFLICT DO NOTHING RETURNING), and its items in one more
    (on PostgreSQL both in one: a data-modifying WITH); None when a concurrent post created it first. An order posted
    confirmed is inserted confirmed (a purchase too late to earn is refused by `_confirm` before anything is kept:
    the request rolls back whole). Core statements built once, the rows made the session's objects as loaded
    (`adopt_inserted`): no ORM insert or flush."""
    hold_id, redeemed, value = _points_paid(session, member, data)
    now = utcnow()
    confirmed = data.status == CONFIRMED
    values = dict(
        organization_id=member.organization_id, member_id=member.id, external_id=data.external_id, type=data.type,
        status=CONFIRMED if confirmed else CREATED, currency=data.currency, total=data.total,
        discounted_total=data.discounted_total, returned_total=Decimal(0), location_code=data.location_code,
        external_event_date=data.external_event_date, points_earned=0, points_awarded=0, tier_points_earned=0,
        tier_points_awarded=0, points_redeemed=redeemed, points_redeemed_value=value, points_refunded=0,
        hold_id=hold_id, confirmed_at=now if confirmed else None, created_at=now, updated_at=now)
    lines = [{"line": n, "sku": i.sku, "quantity": i.quantity, "unit_price": i.unit_price,
              "product_category_code": i.product_category_code, "is_discount": i.is_discount}
             for n, i in enumerate(data.items)]
    inserting, inserting_items, inserting_both = _inserting(session)
    if inserting_both is not None and lines:
        rows = session.execute(inserting_both, {**values, **{
            f"item_{name}": [line[name] for line in lines] for name in _ITEM_COLUMNS}}).all()
        if not rows:
            return None
        split = len(PurchaseOrder.__table__.c)
        order = PurchaseOrder(**dict(zip(PurchaseOrder.__table__.c.keys(), rows[0][:split])))
        items = [OrderItem(**dict(zip(OrderItem.__table__.c.keys(), row[split:]))) for row in rows]
    else:
        row = session.execute(inserting, values).first()
        if row is None:
            return None
        order = PurchaseOrder(**row._mapping)  # the values as the database returned them (its numbers' scale)
        items = sorted((OrderItem(**found._mapping) for found in session.execute(
            inserting_items, [{"order_id": order.id, **line} for line in lines]).all()),
            key=lambda item: item.line) if lines else []
    # Gone from the session if their savepoint rolls back (an import's failed row).
    adopt_inserted(session, order, *items)
    set_committed_value(order, "items", items)
    return order


_INSERTING: dict[str, Any] = {}
_ITEM_COLUMNS = ("line", "sku", "quantity", "unit_price", "product_category_code", "is_discount")


def _inserting(session: Session):
    """`_insert`'s statements, the values bound per call: built once per database (cached compiled). The items
    are one statement for any number of them (insertmanyvalues); they come back in no promised order and are
    sorted by their line, unique within an order (`sort_by_parameter_order` would make SQLite send one INSERT
    per item: it cannot promise RETURNING's order for a multi-row VALUES). PostgreSQL
    also has both in one: the order inserted in a WITH, its items from arrays (`unnest`) joined to it, one row
    back per item (none when the order exists: its items are not inserted either)."""
    name = session.get_bind().dialect.name
    if name not in _INSERTING:
        orders_table, items_table = PurchaseOrder.__table__, OrderItem.__table__
        order_columns = [c for c in orders_table.c if c.key != "id"]
        inserting = (upsert_insert(session, orders_table).values({c.key: bindparam(c.key) for c in order_columns})
                     .on_conflict_do_nothing().returning(*orders_table.c))
        both = None
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import ARRAY

            new_order = inserting.cte("new_order")
            given = func.unnest(*(bindparam(f"item_{column}", type_=ARRAY(items_table.c[column].type))
                                  for column in _ITEM_COLUMNS)).table_valued(*_ITEM_COLUMNS).render_derived()
            new_items = (insert(items_table).from_select(
                ["order_id", *_ITEM_COLUMNS],
                select(new_order.c.id, *(given.c[column] for column in _ITEM_COLUMNS)).select_from(new_order)
                .join(given, true()))
                .returning(*items_table.c).cte("new_items"))
            both = (select(*new_order.c, *new_items.c).select_from(new_order)
                    .join(new_items, new_items.c.order_id == new_order.c.id).order_by(new_items.c.line))
        _INSERTING[name] = (inserting, insert(items_table).returning(*items_table.c),
                            both)
    return _INSERTING[name]


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
                _update_open_order(session, order, data, actor)
                result.changed = True
            return result
        if target == CANCELLED:
            if not new:
                _release_hold(session, order, actor)
            _set_status(session, order, CANCELLED, actor, reason)
            result.changed = True
            return result
        if target in (RETURNED, PARTIALLY_RETURNED):
            raise OrderNotConfirmed("Only a confirmed order can be returned", field="status")
        if not new:
            _update_open_order(session, order, data, actor)
        _confirm(session, member, order, data, actor, result, reason)
        return result
    # previous is confirmed or partially-returned
    if target == CONFIRMED or target == CREATED:
        result.changed = False  # a retry of the confirmation, or a late "created": nothing to do
        return result
    if target in (CANCELLED, RETURNED):
        _give_back_redeemed(session, member, order, order.points_redeemed, actor, result,
                            why="cancelled" if target == CANCELLED else "returned")
        _take_back(session, member, order, order.points_awarded, order.tier_points_awarded, actor, result,
                   why="cancelled" if target == CANCELLED else "returned")
        _undo_effects(session, member, order, actor, result)
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
    refund = order.points_redeemed if share >= 1 else int(
        (order.points_redeemed * share).to_integral_value(rounding=ROUND_FLOOR))
    _give_back_redeemed(session, member, order, refund, actor, result, why="partially returned")
    _take_back(session, member, order, max(order.points_awarded - keep_points, 0),
               max(order.tier_points_awarded - keep_tier, 0), actor, result, why="partially returned")
    order.returned_total = returned
    if returned >= order.total:
        _undo_effects(session, member, order, actor, result)
    _set_status(session, order, RETURNED if returned >= order.total else PARTIALLY_RETURNED, actor, reason)
    result.changed = True
    return result


def _update_open_order(session: Session, order: PurchaseOrder, data: OrderInput, actor: Actor) -> None:
    order.total, order.discounted_total = data.total, data.discounted_total
    order.location_code, order.external_event_date = data.location_code, data.external_event_date
    order.type, order.currency = data.type, data.currency
    held_before = order.hold_id
    _set_points_paid(session, session.get(Member, order.member_id), order, data)
    if held_before is not None and held_before != order.hold_id:  # the till let go of that reservation
        holds.release(session, session.get(holds.PointsHold, held_before), actor=actor)
    _replace_items(session, order, data.items)


def _set_points_paid(session: Session, member: Member, order: PurchaseOrder, data: OrderInput) -> None:
    """What the order pays with points (`_points_paid`), set on it."""
    order.hold_id, order.points_redeemed, order.points_redeemed_value = _points_paid(session, member, data)


def _points_paid(session: Session, member: Member, data: OrderInput) -> tuple[int | None, int, Decimal]:
    """(reservation id, points redeemed, their value in money) the order pays with; a reservation must be the
    member's own (NotFound otherwise)."""
    hold = None
    if data.hold_id is not None:
        hold = holds.get_hold(session, member.organization_id, data.hold_id)
        if hold.member_id != member.id:
            raise NotFound("Reservation not found", field="reservationId")
    redeemed, value = data.points_redeemed, data.points_redeemed_value
    if redeemed is None and hold is not None:
        redeemed = hold.amount
    if (redeemed is None and value) or (redeemed and value is None):  # only then is the programme's rate needed
        rate = default_program(session, member.organization_id).point_value
        if redeemed is None and value:  # a money amount paid with points, converted at the programme's rate
            if not rate or value % rate:
                raise ValidationFailed("pointsRedeemedValue alone needs the programme's pointValue, and a whole "
                                       "number of points at it", field="pointsRedeemedValue")
            redeemed = int(value / rate)
        elif redeemed and value is None:
            if not rate:
                raise ValidationFailed("Give pointsRedeemedValue, what the redeemed points paid in money (the "
                                       "programme has no pointValue to convert them)", field="pointsRedeemedValue")
            value = (redeemed * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    spend = data.discounted_total if data.discounted_total is not None else data.total
    if value is not None and value > spend:
        raise ValidationFailed(f"{redeemed} points are worth {value}, more than the order's (discounted) total",
                               field="pointsRedeemed")
    return (hold.id if hold is not None else None), redeemed or 0, value or Decimal(0)


def _returned_from_items(order: PurchaseOrder, data: OrderInput) -> Decimal:
    """Without returnedTotal: the items posted now are what was kept; the rest was returned."""
    kept = sum((i.unit_price * i.quantity for i in data.items), Decimal(0))
    return max(order.total - kept, Decimal(0))


def _confirm(session: Session, member: Member, order: PurchaseOrder, data: OrderInput, actor: Actor,
             result: OrderResult, reason: str = "") -> None:
    _refuse_too_late(data)
    if order.status != CONFIRMED:  # a new order posted confirmed was inserted so (`_insert`)
        order.status = CONFIRMED
        order.confirmed_at = utcnow()
        session.flush()
    coupon_books = _lock_coupons_before_points(session, member)
    program, tier_before = _program_with_accounts(session, member)
    _redeem(session, member, order, program, actor)
    event = _purchase_event(member, order, data, program)
    event.coupon_books = coupon_books  # none held: campaigns.use_purchase_coupons reads nothing
    evaluation = earning.dispatch(session, event, actor=actor)
    tier_after = tiers.known_tier(session, member.id, program.id)  # no query unless the tier changed
    earned = sum(e.points for e in evaluation.effects if e.type == "award_points"
                 and _account_of(session, e.ledger_transaction_id) == program.points_account_id)
    tier_earned = sum(_tier_points_of(session, e) for e in evaluation.effects if e.type == "award_points")
    _set_earned(session, order, earned, tier_earned)
    result.evaluation = evaluation
    audit.record_now(session, actor, "order.confirmed", order, points=earned, pointsRedeemed=order.points_redeemed,
                     effects=evaluation.as_dict()["effects"],
                     tierChange=([getattr(tier_before, "id", None), getattr(tier_after, "id", None)]
                                 if tier_before is not tier_after else None), **_reason(reason))
    outbox.insert_events(session, [outbox.event_row(order.organization_id, "member-purchase-order-confirmed",
                                                    member_id=member.id, orderId=order.id,
                                                    externalId=order.external_id, points=earned)])
    session.flush()


def _set_earned(session: Session, order: PurchaseOrder, earned: int, tier_earned: int) -> None:
    """The order's points and tier points earned (and awarded, before any return): one Core UPDATE built once, the
    values set on the order as loaded (`adopt_updated`), no ORM flush; nothing when they are what it holds (as a
    flush would send nothing)."""
    values = {"points_earned": earned, "points_awarded": earned, "tier_points_earned": tier_earned,
              "tier_points_awarded": tier_earned}
    if all(getattr(order, name) == value for name, value in values.items()):
        return
    values["updated_at"] = utcnow()
    session.execute(_UPDATE_EARNED, {"order_id": order.id, **values})
    for name, value in values.items():
        set_committed_value(order, name, value)
    adopt_updated(order)


_UPDATE_EARNED = (update(PurchaseOrder.__table__).where(PurchaseOrder.__table__.c.id == bindparam("order_id")))


def _program_with_accounts_statement():
    """The default programme with its two accounts, whether the member owes points, the member's tier row and the
    programme's tier ladder (one row per tier, lowest first; one row with no tier when it has none)."""
    tier_account = aliased(LedgerAccount)
    member_id = bindparam("member_id")
    return (select(LoyaltyProgram, LedgerAccount, tier_account, owes_points(member_id).label("owes"),
                   tiers.MemberTier, tiers.Tier)
            .join(LedgerAccount, LedgerAccount.id == LoyaltyProgram.points_account_id)
            .join(tier_account, tier_account.id == LoyaltyProgram.tier_points_account_id)
            .outerjoin(tiers.MemberTier, (tiers.MemberTier.member_id == member_id)
                       & (tiers.MemberTier.loyalty_program_id == LoyaltyProgram.id))
            .outerjoin(tiers.Tier, tiers.Tier.loyalty_program_id == LoyaltyProgram.id)
            .where(LoyaltyProgram.id == default_program_select(LoyaltyProgram.id).correlate(None).scalar_subquery())
            .order_by(tiers.Tier.min_points, tiers.Tier.id))


_PROGRAM_WITH_ACCOUNTS = None  # built once, on first use (owes_points is defined below it): building cost more than running


def _program_with_accounts(session: Session, member: Member) -> tuple[LoyaltyProgram, Any]:
    """`default_program` and the member's tier before the purchase, in one statement: its points and tier points
    accounts (held: minting to them asks nothing more about them), whether the member owes points (settling the
    debts asks nothing when not, `note_owes`), the member's tier and the tier ladder (remembered for the rest of
    the transaction, `tiers.note_read`: the tier after and the promotion on tier points ask nothing more)."""
    global _PROGRAM_WITH_ACCOUNTS
    if _PROGRAM_WITH_ACCOUNTS is None:
        _PROGRAM_WITH_ACCOUNTS = _program_with_accounts_statement()
    read_at = utcnow()
    rows = session.execute(_PROGRAM_WITH_ACCOUNTS, {"organization_id": member.organization_id,
                                                    "member_id": member.id}).all()
    if not rows:
        default_program(session, member.organization_id)  # raises NotFound
        raise AssertionError("a programme without its accounts")  # the foreign keys forbid it
    program, points_account, tier_account, owes, state, _ = rows[0]
    keep(session, program, points_account, tier_account)
    note_program_accounts(session, program)
    note_owes(session, member.id, owes)
    tier = tiers.note_read(session, member.id, program.id, state, [row[5] for row in rows if row[5] is not None],
                           read_at)
    return program, tier


def _lock_coupons_before_points(session: Session, member: Member) -> list:
    """The member's automatic coupons are locked before any points move (coupons/services.py's lock order);
    returns their books."""
    from . import coupons

    return coupons.lock_purchase_coupons(session, member)


def _account_of(session: Session, tx_id: int | None) -> int | None:
    if tx_id is None:
        return None
    return session.get(ledger.LedgerTransaction, tx_id).ledger_account_id  # known to the session: no query


def _tier_points_of(session: Session, effect: earning.Effect) -> int:
    return effect.points if effect.details.get("tierPointsTransactionId") else 0


def _purchase_event(member: Member, order: PurchaseOrder, data: OrderInput, program=None) -> earning.LoyaltyEvent:
    return earning.LoyaltyEvent(organization_id=member.organization_id, member=member,
                               event_type=earning.PURCHASE_CONFIRMED,
                               payload={"externalId": order.external_id, "total": str(order.total)},
                               occurred_at=in_utc(data.external_event_date) or utcnow(), order=order,
                               location_code=order.location_code, program=program)


def _redeem(session: Session, member: Member, order: PurchaseOrder, program, actor: Actor) -> None:
    """Burn what the order pays with points, or capture the till's reservation (the rest of it released)."""
    reason = Reason(description=f"Paid with points: order {order.external_id}", tags=["order-redeem"],
                    external_id=order.external_id, external_event_date=order.external_event_date)
    if order.hold_id is not None:
        hold = session.get(holds.PointsHold, order.hold_id)
        if order.points_redeemed > 0:
            holds.capture(session, hold, order.points_redeemed, actor=actor, reason=reason)
        else:
            holds.release(session, hold, actor=actor)
    elif order.points_redeemed > 0:
        account = session.get(LedgerAccount, program.points_account_id)
        holds.burn_or_refuse(session, account, ledger.member_wallet(session, account, member.id),
                             order.points_redeemed, actor=actor, reason=reason, field="pointsRedeemed")


def _release_hold(session: Session, order: PurchaseOrder, actor: Actor) -> None:
    if order.hold_id is not None:
        holds.release(session, session.get(holds.PointsHold, order.hold_id), actor=actor)


def _give_back_redeemed(session: Session, member: Member, order: PurchaseOrder, due_in_all: int, actor: Actor,
                        result: OrderResult, *, why: str) -> None:
    """Mint back the redeemed points a cancel or return owes, beyond what was given back before."""
    due = due_in_all - order.points_refunded
    if due <= 0:
        return
    program = default_program(session, member.organization_id)
    account = session.get(LedgerAccount, program.points_account_id)
    wallet = ledger.member_wallet(session, account, member.id)
    reason = Reason(description=f"Order {order.external_id} {why}: points paid back", tags=["order-refund"],
                    external_id=order.external_id)
    # Like the take-back, it applies to a locked account too.
    ledger.post(session, kind=ledger.MINT, account=account, source=ledger.system_wallet(session, account, ledger.ISSUANCE),
                target=wallet, amount=due, actor=actor, reason=reason, whatever_member_status=True)
    order.points_refunded += due
    result.points_given_back += due
    session.flush()


def owes_points(member_id) -> Exists:
    """Has the member an open debt (in any account)? A column for the statement a mint reads its account with
    (points.resolve_account), so that settling after it asks nothing when there is none (`note_owes`)."""
    return exists().where(PointsDebt.member_id == member_id, PointsDebt.amount > PointsDebt.settled)


def note_owes(session: Session, member_id: int, owes: bool) -> None:
    """What a statement read with `owes_points` told: a member who owes nothing is known to (settle_debts)."""
    if not owes:
        session_memo(session, "debt-free")[member_id] = True


def settle_debts(session: Session, member: Member, *, actor: Actor, account: LedgerAccount | None = None,
                 wallet: ledger.Wallet | None = None) -> int:
    """Pay the member's open debts (those of `account` when given, from `wallet` if known) from what the wallet
    holds now, oldest first, one burn each; returns the points.

    Run by every mint to a member (`points.mint_to_member`: a purchase's campaigns and coupons, a mission or
    referral reward, a campaign on a custom event, a bulk grant, a staff correction or an API mint): debts are
    paid from the member's next earnings of any kind. A member known to owe nothing in this transaction costs
    no query (the memo forgets the member when a debt of theirs is added or written, and at the transaction's end).
    """
    debt_free = session_memo(session, "debt-free")
    if member.id in debt_free:
        return 0
    debts = list(session.scalars(select(PointsDebt).where(PointsDebt.member_id == member.id,
                                                         PointsDebt.amount > PointsDebt.settled)
                                 .order_by(PointsDebt.id).with_for_update()))
    if not debts:
        debt_free[member.id] = True
        return 0
    paid = 0
    for debt in debts:
        if account is not None and debt.ledger_account_id != account.id:
            continue
        debt_account = account or session.get(LedgerAccount, debt.ledger_account_id)
        debt_wallet = wallet if wallet is not None and account is not None else ledger.member_wallet(
            session, debt_account, member.id)
        session.refresh(debt_wallet)
        pay = min(debt.amount - debt.settled, max(debt_wallet.available, 0))
        if pay <= 0:
            continue
        origin = session.get(PurchaseOrder, debt.order_id) if debt.order_id is not None else None
        reason = Reason(description=f"Debt from order {origin.external_id if origin else debt.id} settled",
                        tags=["debt-settlement"], external_id=origin.external_id if origin else None)
        ledger.burn(session, debt_account, debt_wallet, pay, actor=actor, reason=reason, whatever_member_status=True)
        debt.settled += pay
        paid += pay
    session.flush()
    return paid


def _record_debt(session: Session, order: PurchaseOrder, member_id: int, account_id: int, amount: int) -> None:
    """A debt of `amount` points in the account, owed for the order; the member is no longer known to owe nothing."""
    session.add(PointsDebt(organization_id=order.organization_id, member_id=member_id, ledger_account_id=account_id,
                           order_id=order.id, amount=amount))  # the member's "debt-free" entry is forgotten


def _take_back(session: Session, member: Member, order: PurchaseOrder, amount: int, tier_amount: int, actor: Actor,
               result: OrderResult, *, why: str) -> None:
    program = default_program(session, member.organization_id)
    for account_id, due, attr in ((program.points_account_id, amount, "points_awarded"),
                                  (program.tier_points_account_id, tier_amount, "tier_points_awarded")):
        if due <= 0:
            continue
        shortfall = _take_points(session, member.id, order, account_id, due, actor, f"Order {order.external_id} {why}")
        if account_id == program.points_account_id:
            result.debt_recorded += shortfall
        setattr(order, attr, getattr(order, attr) - due)
        if account_id == program.points_account_id:
            result.points_taken_back += due
    session.flush()


def _take_points(session: Session, member_id: int, order: PurchaseOrder, account_id: int, due: int, actor: Actor,
                 description: str) -> int:
    """Burn `due` points from the member's wallet as far as it allows; the rest becomes a PointsDebt (returned)."""
    account = session.get(LedgerAccount, account_id)
    wallet = ledger.member_wallet(session, account, member_id)
    session.refresh(wallet)
    burnable = min(due, max(wallet.available, 0))
    if burnable > 0:
        reason = Reason(description=description, tags=["order-return"], external_id=order.external_id)
        # Corrections apply even to locked accounts.
        ledger.burn(session, account, wallet, burnable, actor=actor, reason=reason, whatever_member_status=True)
    shortfall = due - burnable
    if shortfall > 0:
        _record_debt(session, order, member_id, account_id, shortfall)
    session.flush()
    return shortfall


def _undo_effects(session: Session, member: Member, order: PurchaseOrder, actor: Actor, result: OrderResult) -> None:
    """A cancelled or wholly returned order also takes back what its confirmation caused besides its points:
    mission progress and completions (and their points), the referral it completed (both sides' rewards, and
    the points campaigns on `referral-completed` gave the referrer),
    and the coupons it awarded: an unused one is revoked, a used one stays used and its value in points becomes
    a debt (coupons.used_value_in_points: an EXTRAPOINT's points; a DISCOUNT's or REWARD's money value, a
    percentage of the discounted total of the purchase it was used on, at the programme's pointValue, rounded
    down, less the points paid to use it; taken from the wallet as far as it
    allows like the order's points, the rest owed; without a pointValue only the audit entry
    `order.used_coupon_kept` records it, valued false). A partial return keeps them: the purchase still happened."""
    from . import coupons, missions, referrals

    effects = effects_of(session, order).effects
    completed: dict[tuple[Any, Any], int] = {}
    for effect in effects:
        if effect.type == "mission_completed":
            slot = (effect.details.get("missionId"), effect.details.get("periodKey"))
            completed[slot] = completed.get(slot, 0) + int(effect.details.get("completedNow", 0))
    program = default_program(session, member.organization_id)
    # Coupon uses this very order made: their points are among what it earned, taken back with those.
    own_uses = {i for e in effects if e.source == "coupons" for i in e.details.get("couponUsageIds", []) if i}
    for effect in effects:
        details = effect.details
        if effect.type == "increment_mission" and "refused" not in details and "amount" in details:
            slot = (details.get("missionId"), details.get("periodKey"))
            missions.take_back(session, member, details, completed.pop(slot, 0), actor=actor)
        elif effect.type == "mission_completed" and effect.points:
            mission = session.get(missions.Mission, details["missionId"])
            account_id = mission.ledger_account_id if mission and mission.ledger_account_id else program.points_account_id
            _owe(result, program, account_id, _take_points(session, member.id, order, account_id, effect.points, actor,
                                                          f"Order {order.external_id} returned: mission reward"))
        elif effect.type == "referral_completed":
            for member_id, account_id, amount in referrals.take_back(session, details["referralId"], actor=actor,
                                                                     follow_up=details.get("referrerEffects")):
                account_id = account_id or program.points_account_id
                shortfall = _take_points(session, member_id, order, account_id, amount, actor,
                                         f"Order {order.external_id} returned: referral reward")
                if member_id == member.id:
                    _owe(result, program, account_id, shortfall)
        elif effect.type == "assign_coupon":
            for usage in coupons.usages_by_ids(session, details.get("couponUsageIds", [])):
                if usage.reverted_at is not None:
                    continue
                if usage.state == coupons.ASSIGNED:
                    coupons.revert_usage(session, order.organization_id, usage.id, actor=actor)
                    continue
                book = session.get(coupons.CouponBook, usage.book_id)
                use = session.scalars(select(coupons.CouponUsage).where(
                    coupons.CouponUsage.assignment_id == usage.id, coupons.CouponUsage.reverted_at.is_(None))).first()
                if use is not None and use.id in own_uses:
                    value = 0  # used on this very order: what it gave is in the points taken back above
                else:
                    used_on = _order_by_external_id(session, order.organization_id, use.purchase_ref if use else None)
                    value = coupons.used_value_in_points(book, spend=_paid_total(used_on),
                                                         points_paid=use.points_burned if use else 0,
                                                         point_value=program.point_value)
                if value:  # taken back like the order's points: from the wallet as far as it allows, the rest owed
                    _owe(result, program, program.points_account_id, _take_points(
                        session, member.id, order, program.points_account_id, value, actor,
                        f"Order {order.external_id} returned: coupon {book.name} used"))
                audit.record(session, actor, "order.used_coupon_kept", order, couponUsageId=usage.id,
                             couponBookId=book.id, points=value or 0, valued=value is not None)
    session.flush()


def _paid_total(order: PurchaseOrder | None) -> Decimal | None:
    """What a purchase cost after its discounts (`discountedTotal`, else `total`): a percentage coupon used on it
    is owed on this, never on discounts it did not give."""
    if order is None:
        return None
    return order.discounted_total if order.discounted_total is not None else order.total


def _order_by_external_id(session: Session, organization_id: int, external_id: str | None) -> PurchaseOrder | None:
    if external_id is None:
        return None
    return session.scalars(select(PurchaseOrder).where(PurchaseOrder.organization_id == organization_id,
                                                       PurchaseOrder.external_id == external_id)).first()


def _owe(result: OrderResult, program, account_id: int, shortfall: int) -> None:
    if account_id == program.points_account_id:
        result.debt_recorded += shortfall


def _set_status(session: Session, order: PurchaseOrder, status: str, actor: Actor, reason: str = "") -> None:
    order.status = status
    audit.record_changed(session, actor, f"order.{status.replace('-', '_')}", order,
                         returnedTotal=str(order.returned_total), **_reason(reason))
    outbox.emit(session, order.organization_id, f"member-purchase-order-{status}", member_id=order.member_id,
                orderId=order.id, externalId=order.external_id)



def _reason(reason: str) -> dict[str, str]:
    return {"reason": reason} if reason else {}
