"""Purchase orders: record (create, confirm, cancel, return), list, simulate, import; points reserved at
the till for an order to pay with, and the debts returns leave."""
from __future__ import annotations

from functools import partial

from ..domain import holds, members, orders, organizations
from ..domain.errors import NotFound
from ..domain.pagination import paginate, parse_order
from . import core
from .core import Call, ok
from .members import resolve_member
from .schemas import orders as s
from .schemas.common import ListQuery, json_time

ORG = "/organizations/<int:organizationId>"

# These routes were first published from api/earning.py: their endpoint names and operationIds
# (earning_<handler>) stay.
endpoint = partial(core.endpoint, name_prefix="earning")


def _order_input(body: s.OrderIn) -> orders.OrderInput:
    return orders.OrderInput(
        external_id=body.external_id, status=body.status, total=body.total, type=body.type,
        discounted_total=body.discounted_total, returned_total=body.returned_total,
        location_code=body.location_code, external_event_date=body.external_event_date, currency=body.currency,
        system_unique_key=body.system_unique_key, points_redeemed=body.points_redeemed,
        points_redeemed_value=body.points_redeemed_value, hold_id=body.reservation_id,
        items=[orders.ItemInput(sku=i.sku, quantity=i.quantity, unit_price=i.unit_price,
                                product_category_code=i.product_category_code, is_discount=i.is_discount)
               for i in body.items])


def _orders_json(session, page: list[orders.PurchaseOrder]) -> list[dict]:
    debts = orders.open_debts_by_order(session, page)
    return [_order_json(order, debts.get(order.id, 0)) for order in page]


def _order_json(order: orders.PurchaseOrder, open_debt: int) -> dict:
    """An order as `OrderOut` dumps it, built as the dict directly (no model built and dumped per order;
    `OrderOut` still documents it, tests/api/test_order_answers.py checks each answer is what it makes of it)."""
    return {"id": order.id, "memberId": order.member_id, "externalId": order.external_id, "type": order.type,
            "status": order.status, "currency": order.currency, "total": str(order.total),
            "discountedTotal": _money(order.discounted_total), "returnedTotal": str(order.returned_total),
            "locationCode": order.location_code, "externalEventDate": json_time(order.external_event_date),
            "pointsAwarded": order.points_awarded, "pointsEarned": order.points_earned,
            "pointsRedeemed": order.points_redeemed, "pointsRedeemedValue": str(order.points_redeemed_value),
            "pointsGivenBack": order.points_refunded, "reservationId": order.hold_id, "openDebt": open_debt,
            "items": [{"sku": i.sku, "quantity": i.quantity, "unitPrice": str(i.unit_price),
                       "productCategoryCode": i.product_category_code, "isDiscount": i.is_discount}
                      for i in order.items],
            "createdAt": json_time(order.created_at), "updatedAt": json_time(order.updated_at)}


def _money(value) -> str | None:
    return None if value is None else str(value)


def _evaluation_json(evaluation, taken_back: int = 0, debt: int = 0, given_back: int = 0) -> dict:
    """An evaluation as `EvaluationOut` dumps it, built as a dict (as `_order_json`): the effects are their
    `as_dict`."""
    data = evaluation.as_dict()
    return {"pointsAwarded": data["pointsAwarded"], "pointsTakenBack": taken_back, "debtRecorded": debt,
            "pointsGivenBack": given_back, "effects": data["effects"], "errors": data["errors"]}


def _member_for_row(call: Call, member_id: int | None, loyalty_member_id: str | None) -> members.Member:
    if member_id is not None:
        return members.get_member(call.session, call.organization_id, member_id)
    if loyalty_member_id:
        return members.get_by_loyalty_member_id(call.session, call.organization_id, loyalty_member_id)
    raise NotFound("Give memberId or loyaltyMemberId", field="memberId")


@endpoint(f"{ORG}/members/<memberId>/purchase-orders", "POST", role="orders:write", body=s.OrderIn,
          response=s.OrderResultOut, tag="Orders", idempotent=True, status=201, also=(200,),
          summary="Create or update an order by externalId (201; 200 when it stays as it was); confirming awards "
                  "points, returns take them back")
def post_order(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    result = orders.record_order(call.session, member, _order_input(call.body), actor=call.actor)
    open_debt = 0 if result.created else orders.open_debts_by_order(call.session, [result.order]).get(result.order.id, 0)
    payload = {"order": _order_json(result.order, open_debt), "evaluationResults": _evaluation_json(
        result.evaluation, result.points_taken_back, result.debt_recorded, result.points_given_back)}
    return ok(payload, 201 if result.changed else 200, replayed=result.replayed or not result.changed)


@endpoint(f"{ORG}/members/<memberId>/purchase-orders", role="orders:read", query=ListQuery, response=s.OrderPage,
          tag="Orders", summary="A member's orders")
def list_orders(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    q = call.query
    page = paginate(call.session, orders.orders_of(member.id), page=q.page, limit=q.limit,
                    order=parse_order(q.order, _ORDER_BY, "createdAt,desc"))
    return ok(core.plain_page(page, _orders_json(call.session, page.items)))


_ORDER_BY = {"createdAt": orders.PurchaseOrder.created_at, "id": orders.PurchaseOrder.id}


@endpoint(f"{ORG}/purchase-orders/<int:orderId>", role="orders:read", response=s.OrderEnvelope, tag="Orders",
          summary="An order")
def get_order(call: Call, orderId: int):
    order = orders.get_order(call.session, call.organization_id, orderId)
    return ok({"order": _orders_json(call.session, [order])[0]})


@endpoint(f"{ORG}/purchase-orders/simulate", "POST", role="orders:read", body=s.SimulateIn,
          response=s.SimulationOut, tag="Orders", summary="What a confirmed purchase would earn; writes nothing")
def simulate_order(call: Call):
    member = _member_for_row(call, call.body.member_id, call.body.loyalty_member_id)
    evaluation = orders.simulate(call.session, member, _order_input(call.body), actor=call.actor)
    return ok({"evaluationResults": _evaluation_json(evaluation)})


@endpoint(f"{ORG}/purchase-orders/import", "POST", role="orders:write", body=s.ImportIn, response=s.ImportOut,
          tag="Orders", summary="Many orders; each succeeds or fails on its own")
def import_orders(call: Call):
    rows = []
    for row in call.body.orders:
        try:
            rows.append((_member_for_row(call, row.member_id, row.loyalty_member_id), _order_input(row), None))
        except NotFound as error:
            rows.append((None, _order_input(row), error))
    return ok(s.ImportOut(results=orders.import_orders(call.session, call.organization_id, rows,
                                                       actor=call.actor)).dump())


def _reservation_out(hold: holds.PointsHold) -> s.ReservationOut:
    return s.ReservationOut(id=hold.id, member_id=hold.member_id, points=hold.amount, captured=hold.captured,
                            status=hold.status, external_id=hold.external_id,
                            pending_ledger_transaction_id=hold.pending_transaction_id, expires_at=hold.expires_at,
                            created_at=hold.created_at, resolved_at=hold.resolved_at)


@endpoint(f"{ORG}/members/<memberId>/points-reservations", "POST", role="orders:write", body=s.ReservationIn,
          response=s.ReservationResultOut, status=201, tag="Orders", idempotent=True,
          summary="Hold points for an order to pay with (a pending burn that expires); 409 names the balance")
def reserve_points(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    made = holds.reserve(call.session, member, call.body.points, actor=call.actor,
                         minutes=call.body.expires_in_minutes, external_id=call.body.external_id,
                         system_unique_key=call.body.system_unique_key)
    return ok({"reservation": _reservation_out(made.hold).dump()}, 201, replayed=made.replayed)


@endpoint(f"{ORG}/points-reservations/<int:reservationId>", role="orders:read", response=s.ReservationResultOut,
          tag="Orders", summary="A reservation of points")
def get_reservation(call: Call, reservationId: int):
    return ok({"reservation": _reservation_out(holds.get_hold(call.session, call.organization_id,
                                                              reservationId)).dump()})


@endpoint(f"{ORG}/points-reservations/<int:reservationId>/release", "POST", role="orders:write",
          response=s.ReservationResultOut, tag="Orders",
          summary="Give reserved points back (a cancelled payment); again changes nothing")
def release_reservation(call: Call, reservationId: int):
    hold = holds.get_hold(call.session, call.organization_id, reservationId)
    return ok({"reservation": _reservation_out(holds.release(call.session, hold, actor=call.actor)).dump()})


@endpoint(f"{ORG}/members/<memberId>/points-debts", role="orders:read", response=s.DebtsOut, tag="Orders",
          summary="Points returns took back that the member had already spent, and what is still open")
def list_debts(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    debts = orders.debts_of(call.session, member.id)
    program = organizations.default_program(call.session, member.organization_id)
    return ok(s.DebtsOut(open_debt=orders.outstanding_debt(call.session, member.id, program.points_account_id),
                         results=[s.DebtOut(id=d.id, order_id=d.order_id, ledger_account_id=d.ledger_account_id,
                                            amount=d.amount, settled=d.settled, created_at=d.created_at)
                                  for d in debts]).dump())
