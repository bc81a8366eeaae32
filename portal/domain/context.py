"""The data a rule sees: plain dicts built from a member, an order and an event.

One builder for campaigns, missions and audiences, so `member.tier` means the
same everywhere. Tier names are lower-cased for comparison (`member.tier ==
"gold"`); `member.tierName` keeps the original.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from .ledger import Wallet
from .organizations import default_program

_IN_CHUNK = 500  # ids per IN (...) list
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def member_context(session: Session, member, *, with_audiences: bool = True, with_balances: bool = True,
                   at: dt.datetime | None = None, program=None) -> dict[str, Any]:
    """The member as rules see them; `at` a past moment: with the tier they held then (a late purchase).
    `program`: the organisation's default programme, when the caller has it. Without balances (for rules that
    do not ask), `balance` and `tierPoints` are 0; audiences' rules may ask: with audiences, balances too."""
    from . import tiers

    program = program or default_program(session, member.organization_id)
    tier = (tiers.tier_at(session, member.id, program.id, at) if at is not None
            else tiers.known_tier(session, member.id, program.id))
    balances = {}
    if with_balances or with_audiences:
        balances = dict(session.execute(select(Wallet.ledger_account_id, Wallet.balance)
                                        .where(Wallet.member_id == member.id)).all())
    context = _member_dict(member, program, tier, balances)
    if with_audiences:
        from . import audiences

        context["audiences"] = [a.name for a in audiences.member_audiences(session, member, context)]
    return context


def member_contexts(session: Session, organization_id: int, members: list) -> dict[int, dict[str, Any]]:
    """member id -> the member as rules see them now (without audiences), for a batch of one organisation's
    members: a few queries per 500 members rather than three per member (a points grant to a rule audience)."""
    from .tiers import MemberTier, Tier

    if not members:
        return {}
    program = default_program(session, organization_id)
    tiers: dict[int, Any] = {}
    balances: dict[int, dict[int, int]] = {}
    for start in range(0, len(members), _IN_CHUNK):
        ids = [m.id for m in members[start:start + _IN_CHUNK]]
        tiers.update(session.execute(select(MemberTier.member_id, Tier).join(Tier, Tier.id == MemberTier.tier_id)
                                     .where(MemberTier.loyalty_program_id == program.id,
                                            MemberTier.member_id.in_(ids))).all())
        for member_id, account_id, balance in session.execute(select(
                Wallet.member_id, Wallet.ledger_account_id, Wallet.balance).where(Wallet.member_id.in_(ids))):
            balances.setdefault(member_id, {})[account_id] = balance
    return {m.id: _member_dict(m, program, tiers.get(m.id), balances.get(m.id, {})) for m in members}


def _member_dict(member, program, tier, balances: dict[int, int]) -> dict[str, Any]:
    return {
        "id": member.id, "loyaltyMemberId": member.loyalty_member_id, "memberType": member.member_type,
        "email": member.email, "givenName": member.given_name, "familyName": member.family_name,
        "city": member.city, "zipCode": member.zip_code, "countryCode": member.country_code,
        "birthDate": member.birth_date.isoformat() if member.birth_date else None,
        "customAttributes": dict(member.custom_attributes or {}),
        "tier": tier.name.lower() if tier else None, "tierName": tier.name if tier else None,
        "tierId": tier.id if tier else None,
        "balance": int(balances.get(program.points_account_id, 0)),
        "tierPoints": int(balances.get(program.tier_points_account_id, 0)),
        "createdAt": member.created_at.isoformat(), "accountStatus": member.account_status,
        "audiences": [],
    }


def order_context(order) -> dict[str, Any]:
    """Works for a stored PurchaseOrder and for an unsaved one being simulated."""
    items = [{"sku": i.sku, "quantity": i.quantity, "unitPrice": i.unit_price,
              "category": i.product_category_code, "isDiscount": i.is_discount,
              "amount": (i.unit_price or Decimal(0)) * (i.quantity or 0)} for i in order.items]
    return {"externalId": order.external_id, "type": order.type, "status": order.status,
            "total": order.total, "discountedTotal": order.discounted_total,
            "location": order.location_code, "currency": order.currency, "items": items,
            "itemCount": sum(int(i["quantity"] or 0) for i in items if not i["isDiscount"])}


def time_context(moment: dt.datetime, timezone: str = "UTC") -> dict[str, Any]:
    local = moment.astimezone(ZoneInfo(timezone))
    return {"weekday": WEEKDAYS[local.weekday()], "hour": local.hour, "date": local.date().isoformat(),
            "month": local.month, "day": local.day, "year": local.year}


def event_context(session: Session, event, *, with_audiences: bool = True,
                  with_balances: bool = True) -> dict[str, Any]:
    """{"member", "order", "event", "location", "now"} for one LoyaltyEvent; without audiences or balances, the
    member's are empty (for rules that do not ask: member_context)."""
    context = {"member": member_context(session, event.member, at=event.occurred_at, program=event.program,
                                        with_audiences=with_audiences, with_balances=with_balances),
               "order": None,
               "event": {"type": event.event_type, "payload": dict(event.payload or {}), **event.payload},
               "location": event.location_code, "now": time_context(event.occurred_at)}
    if event.order is not None:
        context["order"] = order_context(event.order)
        context["order"].update(time_context(event.occurred_at))
        context["location"] = event.order.location_code
    return context
