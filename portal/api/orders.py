"""Purchase orders: record (create, confirm, cancel, return), list, simulate, import."""
from __future__ import annotations

from functools import partial

from ..domain import members, orders
from ..domain.errors import NotFound
from . import core
from .core import Call, ok, page_response
from .members import resolve_member
from .schemas import orders as s
from .schemas.common import EffectOut, ListQuery

ORG = "/organizations/<int:organizationId>"

# These routes were first published from api/earning.py: their endpoint names and operationIds
# (earning_<handler>) stay.
endpoint = partial(core.endpoint, name_prefix="earning")


def _order_input(body: s.OrderIn) -> orders.OrderInput:
    return orders.OrderInput(
        external_id=body.external_id, status=body.status, total=body.total, type=body.type,
        discounted_total=body.discounted_total, returned_total=body.returned_total,
        location_code=body.location_code, external_event_date=body.external_event_date, currency=body.currency,
        system_unique_key=body.system_unique_key,
        items=[orders.ItemInput(sku=i.sku, quantity=i.quantity, unit_price=i.unit_price,
                                product_category_code=i.product_category_code, is_discount=i.is_discount)
               for i in body.items])


def _order_out(order: orders.PurchaseOrder) -> s.OrderOut:
    return s.OrderOut(id=order.id, member_id=order.member_id, external_id=order.external_id, type=order.type,
                      status=order.status, currency=order.currency, total=order.total,
                      discounted_total=order.discounted_total, returned_total=order.returned_total,
                      location_code=order.location_code, external_event_date=order.external_event_date,
                      points_awarded=order.points_awarded, points_earned=order.points_earned,
                      items=[s.ItemOut(sku=i.sku, quantity=i.quantity, unit_price=i.unit_price,
                                       product_category_code=i.product_category_code, is_discount=i.is_discount)
                             for i in order.items], created_at=order.created_at, updated_at=order.updated_at)


def _evaluation_out(evaluation, taken_back: int = 0, debt: int = 0) -> s.EvaluationOut:
    data = evaluation.as_dict()
    return s.EvaluationOut(points_awarded=data["pointsAwarded"], points_taken_back=taken_back,
                           debt_recorded=debt, errors=data["errors"],
                           effects=[EffectOut(**{_snake(k): v for k, v in e.items()}) for e in data["effects"]])


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


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
    payload = s.OrderResultOut(order=_order_out(result.order), evaluation_results=_evaluation_out(
        result.evaluation, result.points_taken_back, result.debt_recorded)).dump()
    return ok(payload, 201 if result.changed else 200, replayed=result.replayed or not result.changed)


@endpoint(f"{ORG}/members/<memberId>/purchase-orders", role="orders:read", query=ListQuery, response=s.OrderPage,
          tag="Orders", summary="A member's orders")
def list_orders(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    return page_response(call, orders.orders_of(member.id), s.OrderPage, _order_out,
                         orders={"createdAt": orders.PurchaseOrder.created_at, "id": orders.PurchaseOrder.id})


@endpoint(f"{ORG}/purchase-orders/<int:orderId>", role="orders:read", response=s.OrderResultOut, tag="Orders",
          summary="An order")
def get_order(call: Call, orderId: int):
    order = orders.get_order(call.session, call.organization_id, orderId)
    return ok({"order": _order_out(order).dump()})


@endpoint(f"{ORG}/purchase-orders/simulate", "POST", role="orders:read", body=s.SimulateIn,
          response=s.SimulationOut, tag="Orders", summary="What a confirmed purchase would earn; writes nothing")
def simulate_order(call: Call):
    member = _member_for_row(call, call.body.member_id, call.body.loyalty_member_id)
    evaluation = orders.simulate(call.session, member, _order_input(call.body), actor=call.actor)
    return ok(s.SimulationOut(evaluation_results=_evaluation_out(evaluation)).dump())


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
