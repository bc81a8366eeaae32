"""Purchase orders, campaigns with actions, rules and audiences."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints
from sqlalchemy import select

from ..domain import audiences, campaigns, members, orders, rules
from ..domain.errors import NotFound
from . import schemas as s
from .core import Call, endpoint, ok, page_response
from .members import resolve_member

ORG = "/organizations/<int:organizationId>"
Str100 = Annotated[str, StringConstraints(max_length=100)]
MoneyIn = Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), max_digits=14, decimal_places=2)]


# --- schemas ---------------------------------------------------------------------------

class ItemIn(s.In):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    quantity: int = Field(1, ge=1, le=1_000_000)
    unit_price: Annotated[Decimal, Field(ge=Decimal("-1e12"), le=Decimal("1e12"), max_digits=14, decimal_places=2)]
    product_category_code: Str100 | None = None
    is_discount: bool = False


class OrderIn(s.In):
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    type: Annotated[str, StringConstraints(max_length=32)] = "purchase"
    status: Literal["created", "confirmed", "cancelled", "returned", "partially-returned"]
    total: MoneyIn
    discounted_total: MoneyIn | None = None
    returned_total: MoneyIn | None = None
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)] = "EUR"
    items: Annotated[list[ItemIn], Field(max_length=1000)] = Field(default_factory=list)
    location_code: Annotated[str, StringConstraints(max_length=64)] | None = None
    external_event_date: s.UtcDateTime | None = None
    system_unique_key: s.Key | None = None


class SimulateIn(OrderIn):
    member_id: int | None = None
    loyalty_member_id: str | None = None
    status: Literal["created", "confirmed", "cancelled", "returned", "partially-returned"] = "confirmed"


class ImportRow(OrderIn):
    member_id: int | None = None
    loyalty_member_id: str | None = None


class ImportIn(s.In):
    orders: Annotated[list[ImportRow], Field(min_length=1, max_length=1000)]


class ItemOut(s.Out):
    sku: str
    quantity: int
    unit_price: Decimal
    product_category_code: str | None
    is_discount: bool


class OrderOut(s.Out):
    id: int
    member_id: int
    external_id: str
    type: str
    status: str
    currency: str
    total: Decimal
    discounted_total: Decimal | None
    returned_total: Decimal
    location_code: str | None
    external_event_date: dt.datetime | None
    points_awarded: int
    points_earned: int
    items: list[ItemOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class EffectOut(s.Out):
    type: str
    points: int
    campaign_id: int | None
    action_id: int | None
    source: str
    ledger_transaction_id: int | None
    details: dict[str, Any]


class EvaluationOut(s.Out):
    points_awarded: int
    points_taken_back: int = 0
    debt_recorded: int = 0
    effects: list[EffectOut]
    errors: list[dict[str, Any]]


class OrderResultOut(s.Out):
    order: OrderOut
    evaluation_results: EvaluationOut


class SimulationOut(s.Out):
    evaluation_results: EvaluationOut


class OrderPage(s.PageOut):
    results: list[OrderOut]


class ImportOut(s.Out):
    results: list[dict[str, Any]]


class CampaignIn(s.In):
    code: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    name: s.Name
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    event_type: Annotated[str, StringConstraints(min_length=1, max_length=100)] = "member-purchase-order-confirmed"
    active: bool = True
    valid_from: s.UtcDateTime | None = None
    valid_to: s.UtcDateTime | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] = "UTC"
    days_of_week: list[Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]] = \
        Field(default_factory=list)
    location_codes: Annotated[list[Str100], Field(max_length=500)] = Field(default_factory=list)
    tier_ids: Annotated[list[int], Field(max_length=50)] = Field(default_factory=list)
    audience_ids: Annotated[list[int], Field(max_length=50)] = Field(default_factory=list)
    min_spend: MoneyIn | None = None
    monthly_points_cap: int | None = Field(None, ge=1, le=10**12)
    tags: s.Tags = Field(default_factory=list)
    loyalty_program_id: int | None = None


class CampaignUpdate(s.In):
    name: s.Name | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    event_type: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    active: bool | None = None
    valid_from: s.UtcDateTime | None = None
    valid_to: s.UtcDateTime | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None
    days_of_week: list[Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]] | None \
        = None
    location_codes: Annotated[list[Str100], Field(max_length=500)] | None = None
    tier_ids: Annotated[list[int], Field(max_length=50)] | None = None
    audience_ids: Annotated[list[int], Field(max_length=50)] | None = None
    min_spend: MoneyIn | None = None
    monthly_points_cap: int | None = Field(None, ge=1, le=10**12)
    tags: s.Tags | None = None


class EffectIn(s.In):
    model_config = s.In.model_config | {"extra": "allow"}
    type: Literal["award_points", "assign_coupon", "set_tier", "increment_mission", "emit_event"]
    # The objects an effect names (each of the caller's organisation); the other fields depend on the type.
    ledger_account_id: int | None = Field(None, description="award_points: the account credited (default: points)")
    coupon_book_id: int | None = Field(None, description="assign_coupon: the coupon book")
    tier_id: int | None = Field(None, description="set_tier: the tier")
    mission_id: int | None = Field(None, description="increment_mission: the mission")


class ActionIn(s.In):
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    index: int | None = Field(None, ge=0, le=10_000)
    rules: Annotated[list[Annotated[str, StringConstraints(max_length=4000)]], Field(max_length=50)] = \
        Field(default_factory=list)
    effects: Annotated[list[EffectIn], Field(max_length=20)] = Field(default_factory=list)
    abort_on_false: bool = False
    abort_on_error: bool = True
    status: Literal["draft", "running", "disabled"] = "running"


class ActionUpdate(s.In):
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    index: int | None = Field(None, ge=0, le=10_000)
    rules: Annotated[list[Annotated[str, StringConstraints(max_length=4000)]], Field(max_length=50)] | None = None
    effects: Annotated[list[EffectIn], Field(max_length=20)] | None = None
    abort_on_false: bool | None = None
    abort_on_error: bool | None = None
    status: Literal["draft", "running", "disabled"] | None = None


class ActionOut(s.Out):
    id: int
    campaign_id: int
    index: int
    name: str
    rules: list[str]
    effects: list[dict[str, Any]]
    abort_on_false: bool
    abort_on_error: bool
    status: str


class CampaignOut(s.Out):
    id: int
    loyalty_program_id: int
    code: str
    name: str
    description: str
    event_type: str
    active: bool
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    timezone: str
    days_of_week: list[str]
    location_codes: list[str]
    tier_ids: list[int]
    audience_ids: list[int]
    min_spend: Decimal | None
    monthly_points_cap: int | None
    tags: list[str]
    actions: list[ActionOut]
    created_at: dt.datetime


class CampaignEnvelope(s.Out):
    campaign: CampaignOut


class CampaignPage(s.PageOut):
    results: list[CampaignOut]


class ActionEnvelope(s.Out):
    action: ActionOut


class ActionList(s.Out):
    results: list[ActionOut]


class ParseIn(s.In):
    expressions: Annotated[list[Annotated[str, StringConstraints(max_length=4000)]], Field(min_length=1,
                                                                                           max_length=100)]


class ParsedOut(s.Out):
    expression: str
    valid: bool
    node: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class ParseOut(s.Out):
    results: list[ParsedOut]


class PrintIn(s.In):
    nodes: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=100)]


class PrintOut(s.Out):
    expressions: list[str]


class AudienceIn(s.In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    kind: Literal["rule", "list"] = "rule"
    rule: Annotated[str, StringConstraints(max_length=4000)] | None = None
    member_ids: Annotated[list[int], Field(max_length=10_000)] = Field(default_factory=list)


class AudienceUpdate(s.In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)] | None = None
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    rule: Annotated[str, StringConstraints(max_length=4000)] | None = None
    add_member_ids: Annotated[list[int], Field(max_length=10_000)] = Field(default_factory=list)


class AudienceOut(s.Out):
    id: int
    name: str
    description: str
    kind: str
    rule: str | None
    member_count: int
    created_at: dt.datetime


class AudienceEnvelope(s.Out):
    audience: AudienceOut


class AudiencePage(s.PageOut):
    results: list[AudienceOut]


class MemberAudiencesOut(s.Out):
    results: list[AudienceOut]


# --- helpers -----------------------------------------------------------------------------

def _order_input(body: OrderIn) -> orders.OrderInput:
    return orders.OrderInput(
        external_id=body.external_id, status=body.status, total=body.total, type=body.type,
        discounted_total=body.discounted_total, returned_total=body.returned_total,
        location_code=body.location_code, external_event_date=body.external_event_date, currency=body.currency,
        items=[orders.ItemInput(sku=i.sku, quantity=i.quantity, unit_price=i.unit_price,
                                product_category_code=i.product_category_code, is_discount=i.is_discount)
               for i in body.items])


def _order_out(order: orders.PurchaseOrder) -> OrderOut:
    return OrderOut(id=order.id, member_id=order.member_id, external_id=order.external_id, type=order.type,
                    status=order.status, currency=order.currency, total=order.total,
                    discounted_total=order.discounted_total, returned_total=order.returned_total,
                    location_code=order.location_code, external_event_date=order.external_event_date,
                    points_awarded=order.points_awarded, points_earned=order.points_earned,
                    items=[ItemOut(sku=i.sku, quantity=i.quantity, unit_price=i.unit_price,
                                   product_category_code=i.product_category_code, is_discount=i.is_discount)
                           for i in order.items], created_at=order.created_at, updated_at=order.updated_at)


def _evaluation_out(evaluation, taken_back: int = 0, debt: int = 0) -> EvaluationOut:
    data = evaluation.as_dict()
    return EvaluationOut(points_awarded=data["pointsAwarded"], points_taken_back=taken_back, debt_recorded=debt,
                         effects=[EffectOut(**{_snake(k): v for k, v in e.items()}) for e in data["effects"]],
                         errors=data["errors"])


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _campaign_out(call: Call, campaign: campaigns.Campaign) -> CampaignOut:
    return CampaignOut(
        id=campaign.id, loyalty_program_id=campaign.loyalty_program_id, code=campaign.code, name=campaign.name,
        description=campaign.description, event_type=campaign.event_type, active=campaign.active,
        valid_from=campaign.valid_from, valid_to=campaign.valid_to, timezone=campaign.timezone,
        days_of_week=campaign.days_of_week or [], location_codes=campaign.location_codes or [],
        tier_ids=campaign.tier_ids or [], audience_ids=campaign.audience_ids or [], min_spend=campaign.min_spend,
        monthly_points_cap=campaign.monthly_points_cap, tags=campaign.tags or [],
        actions=[_action_out(a) for a in campaigns.actions_of(call.session, campaign.id)],
        created_at=campaign.created_at)


def _action_out(action: campaigns.CampaignAction) -> ActionOut:
    return ActionOut(id=action.id, campaign_id=action.campaign_id, index=action.index, name=action.name,
                     rules=action.rules or [], effects=action.effects or [], abort_on_false=action.abort_on_false,
                     abort_on_error=action.abort_on_error, status=action.status)


def _audience_out(call: Call, audience: audiences.Audience) -> AudienceOut:
    return AudienceOut(id=audience.id, name=audience.name, description=audience.description, kind=audience.kind,
                       rule=audience.rule, member_count=audiences.member_count(call.session, audience),
                       created_at=audience.created_at)


def _member_for_row(call: Call, member_id: int | None, loyalty_member_id: str | None) -> members.Member:
    if member_id is not None:
        return members.get_member(call.session, call.organization_id, member_id)
    if loyalty_member_id:
        return members.get_by_loyalty_member_id(call.session, call.organization_id, loyalty_member_id)
    raise NotFound("Give memberId or loyaltyMemberId", field="memberId")


# --- orders -------------------------------------------------------------------------------

@endpoint(f"{ORG}/members/<memberId>/purchase-orders", "POST", role="orders:write", body=OrderIn,
          response=OrderResultOut, tag="Orders", idempotent=True,
          summary="Create or update an order by externalId; confirming awards points, returns take them back")
def post_order(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    result = orders.record_order(call.session, member, _order_input(call.body), actor=call.actor)
    payload = OrderResultOut(order=_order_out(result.order), evaluation_results=_evaluation_out(
        result.evaluation, result.points_taken_back, result.debt_recorded)).dump()
    return ok(payload, 201 if result.changed else 200, replayed=not result.changed)


@endpoint(f"{ORG}/members/<memberId>/purchase-orders", role="orders:read", query=s.ListQuery, response=OrderPage,
          tag="Orders", summary="A member's orders")
def list_orders(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    return page_response(call, orders.orders_of(member.id), OrderPage, _order_out,
                         orders={"createdAt": orders.PurchaseOrder.created_at, "id": orders.PurchaseOrder.id})


@endpoint(f"{ORG}/purchase-orders/<int:orderId>", role="orders:read", response=OrderResultOut, tag="Orders",
          summary="An order")
def get_order(call: Call, orderId: int):
    order = orders.get_order(call.session, call.organization_id, orderId)
    return ok({"order": _order_out(order).dump()})


@endpoint(f"{ORG}/purchase-orders/simulate", "POST", role="orders:read", body=SimulateIn, response=SimulationOut,
          tag="Orders", summary="What a confirmed purchase would earn; writes nothing")
def simulate_order(call: Call):
    member = _member_for_row(call, call.body.member_id, call.body.loyalty_member_id)
    evaluation = orders.simulate(call.session, member, _order_input(call.body), actor=call.actor)
    call.session.rollback()
    return ok(SimulationOut(evaluation_results=_evaluation_out(evaluation)).dump())


@endpoint(f"{ORG}/purchase-orders/import", "POST", role="orders:write", body=ImportIn, response=ImportOut,
          tag="Orders", summary="Many orders; each succeeds or fails on its own")
def import_orders(call: Call):
    rows = []
    for row in call.body.orders:
        try:
            rows.append((_member_for_row(call, row.member_id, row.loyalty_member_id), _order_input(row), None))
        except NotFound as error:
            rows.append((None, None, {"status": 404, "title": error.title, "detail": error.message,
                                      "errors": error.errors}))
    return ok(ImportOut(results=orders.import_orders(call.session, call.organization_id, rows,
                                                     actor=call.actor)).dump())


# --- campaigns ------------------------------------------------------------------------------

@endpoint(f"{ORG}/campaigns", role="campaigns:read", query=s.ListQuery, response=CampaignPage, tag="Campaigns",
          summary="List campaigns")
def list_campaigns(call: Call):
    stmt = select(campaigns.Campaign).where(campaigns.Campaign.organization_id == call.organization_id)
    return page_response(call, stmt, CampaignPage, lambda c: _campaign_out(call, c),
                         orders={"createdAt": campaigns.Campaign.created_at, "code": campaigns.Campaign.code})


@endpoint(f"{ORG}/campaigns", "POST", role="campaigns:write", body=CampaignIn, response=CampaignEnvelope,
          status=201, tag="Campaigns", summary="Create a campaign")
def create_campaign(call: Call):
    fields = call.body.model_dump(exclude={"code", "name"})
    campaign = campaigns.create_campaign(call.session, call.organization_id, code=call.body.code,
                                         name=call.body.name, actor=call.actor, **fields)
    return ok(CampaignEnvelope(campaign=_campaign_out(call, campaign)).dump(), 201)


@endpoint(f"{ORG}/campaigns/<int:campaignId>", role="campaigns:read", response=CampaignEnvelope, tag="Campaigns",
          summary="A campaign with its actions")
def get_campaign(call: Call, campaignId: int):
    campaign = campaigns.get_campaign(call.session, call.organization_id, campaignId)
    return ok(CampaignEnvelope(campaign=_campaign_out(call, campaign)).dump())


@endpoint(f"{ORG}/campaigns/<int:campaignId>", "PATCH", role="campaigns:write", body=CampaignUpdate,
          response=CampaignEnvelope, tag="Campaigns", summary="Change a campaign")
def update_campaign(call: Call, campaignId: int):
    campaign = campaigns.get_campaign(call.session, call.organization_id, campaignId)
    campaigns.update_campaign(call.session, campaign, actor=call.actor,
                              **call.body.model_dump(exclude_unset=True))
    return ok(CampaignEnvelope(campaign=_campaign_out(call, campaign)).dump())


@endpoint(f"{ORG}/campaigns/<int:campaignId>/actions", role="campaigns:read", response=ActionList,
          tag="Campaigns", summary="A campaign's actions in order")
def list_actions(call: Call, campaignId: int):
    campaign = campaigns.get_campaign(call.session, call.organization_id, campaignId)
    return ok(ActionList(results=[_action_out(a) for a in campaigns.actions_of(call.session, campaign.id)]).dump())


@endpoint(f"{ORG}/campaigns/<int:campaignId>/actions", "POST", role="campaigns:write", body=ActionIn,
          response=ActionEnvelope, status=201, tag="Campaigns",
          summary="Add an action: rules (all must hold) and effects")
def add_action(call: Call, campaignId: int):
    campaign = campaigns.get_campaign(call.session, call.organization_id, campaignId)
    b: ActionIn = call.body
    action = campaigns.add_action(call.session, campaign, actor=call.actor, rules_text=b.rules,
                                  effects=[e.model_dump(by_alias=True) for e in b.effects], index=b.index,
                                  name=b.name, abort_on_false=b.abort_on_false, abort_on_error=b.abort_on_error,
                                  status=b.status)
    return ok(ActionEnvelope(action=_action_out(action)).dump(), 201)


@endpoint(f"{ORG}/campaigns/<int:campaignId>/actions/<int:actionId>", "PATCH", role="campaigns:write",
          body=ActionUpdate, response=ActionEnvelope, tag="Campaigns", summary="Change an action")
def update_action(call: Call, campaignId: int, actionId: int):
    campaign = campaigns.get_campaign(call.session, call.organization_id, campaignId)
    action = campaigns.get_action(call.session, campaign, actionId)
    b: ActionUpdate = call.body
    fields = b.model_dump(exclude_unset=True, exclude={"rules", "effects"})
    if b.rules is not None:
        fields["rules_text"] = b.rules
    if b.effects is not None:
        fields["effects"] = [e.model_dump(by_alias=True) for e in b.effects]
    campaigns.update_action(call.session, action, actor=call.actor, **fields)
    return ok(ActionEnvelope(action=_action_out(action)).dump())


# --- rules ---------------------------------------------------------------------------------

@endpoint(f"{ORG}/rules/parse", "POST", role="campaigns:read", body=ParseIn, response=ParseOut, tag="Rules",
          summary="Parse expressions to AST nodes (with positions), or say where each is wrong")
def parse_rules(call: Call):
    results = []
    for text in call.body.expressions:
        try:
            results.append(ParsedOut(expression=text, valid=True, node=rules.to_json(rules.parse(text))))
        except rules.RuleSyntaxError as error:
            results.append(ParsedOut(expression=text, valid=False, error={
                "message": error.message, "line": error.line, "column": error.column}))
    return ok(ParseOut(results=results).dump())


@endpoint(f"{ORG}/rules/to-expression", "POST", role="campaigns:read", body=PrintIn, response=PrintOut,
          tag="Rules", summary="Turn AST nodes back into expression text")
def print_rules(call: Call):
    texts = []
    for index, node in enumerate(call.body.nodes):
        try:
            texts.append(rules.to_expression(rules.from_json(node)))
        except rules.ValidationFailed as error:
            error.errors = {f"nodes[{index}]": [error.message]}
            raise
    return ok(PrintOut(expressions=texts).dump())


# --- audiences ------------------------------------------------------------------------------

@endpoint(f"{ORG}/audiences", role="campaigns:read", query=s.ListQuery, response=AudiencePage, tag="Audiences",
          summary="List audiences with member counts")
def list_audiences(call: Call):
    stmt = select(audiences.Audience).where(audiences.Audience.organization_id == call.organization_id)
    return page_response(call, stmt, AudiencePage, lambda a: _audience_out(call, a),
                         orders={"createdAt": audiences.Audience.created_at, "name": audiences.Audience.name})


@endpoint(f"{ORG}/audiences", "POST", role="campaigns:write", body=AudienceIn, response=AudienceEnvelope,
          status=201, tag="Audiences", summary="A rule audience (expression over member) or a list audience")
def create_audience(call: Call):
    b: AudienceIn = call.body
    audience = audiences.create_audience(call.session, call.organization_id, name=b.name, actor=call.actor,
                                         kind=b.kind, rule=b.rule, description=b.description,
                                         member_ids=b.member_ids)
    return ok(AudienceEnvelope(audience=_audience_out(call, audience)).dump(), 201)


@endpoint(f"{ORG}/audiences/<int:audienceId>", role="campaigns:read", response=AudienceEnvelope, tag="Audiences",
          summary="An audience")
def get_audience(call: Call, audienceId: int):
    audience = audiences.get_audience(call.session, call.organization_id, audienceId)
    return ok(AudienceEnvelope(audience=_audience_out(call, audience)).dump())


@endpoint(f"{ORG}/audiences/<int:audienceId>", "PATCH", role="campaigns:write", body=AudienceUpdate,
          response=AudienceEnvelope, tag="Audiences", summary="Change an audience or add listed members")
def update_audience(call: Call, audienceId: int):
    audience = audiences.get_audience(call.session, call.organization_id, audienceId)
    b: AudienceUpdate = call.body
    audiences.update_audience(call.session, audience, actor=call.actor, name=b.name, rule=b.rule,
                              description=b.description)
    if b.add_member_ids:
        audiences.add_members(call.session, audience, b.add_member_ids, field="addMemberIds")
    return ok(AudienceEnvelope(audience=_audience_out(call, audience)).dump())


@endpoint(f"{ORG}/members/<memberId>/audiences", role="members:read", response=MemberAudiencesOut,
          tag="Audiences", summary="The audiences a member is in now")
def member_audiences(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    return ok(MemberAudiencesOut(results=[_audience_out(call, a) for a in
                                          audiences.member_audiences(call.session, member)]).dump())
