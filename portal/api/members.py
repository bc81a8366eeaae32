"""Members, identification, wallets, mint and burn."""
from __future__ import annotations

from flask import request
from sqlalchemy import false, select

from ..domain import enrolment, members, organizations, partners, points, statements, tiers
from ..domain.base import fits_id
from ..domain.errors import NotFound, ValidationFailed
from ..domain.pagination import parse_order
from ..domain.ledger import LedgerTransaction
from .core import Call, endpoint, ok, page_response, plain_page
from .ledgers import reason_of, transaction_out, transactions_out
from .schemas import members as s
from .schemas.common import json_time

ORG = "/organizations/<int:organizationId>"


def resolve_member(call: Call, member_ref: str) -> members.Member:
    """A member by id, or by identifier when the request carries an `id-type` header (Convercus)."""
    id_type = request.headers.get("id-type", "ID")
    if id_type not in ("ID", *members.IDENTIFIER_TYPES):
        raise ValidationFailed("id-type must be ID, CARDCODE, APPCODE or EXTERNALCODE", field="id-type")
    if id_type == "ID":
        return members.get_member(call.session, call.organization_id, _member_id(member_ref))
    try:
        return members.lookup(call.session, call.organization_id, id_type, member_ref)
    except NotFound:
        raise NotFound("Member not found", field="memberId") from None


def member_id_of(call: Call, member_ref: str) -> int:
    """The id of the member a path names, as `resolve_member` finds it, without loading the member when the path
    names it by id (the caller's own query then finds it in the organisation, or answers NotFound)."""
    if request.headers.get("id-type", "ID") != "ID":
        return resolve_member(call, member_ref).id
    return _member_id(member_ref)


def _member_id(member_ref: str) -> int:
    """The member id a path's text names: digits within BIGINT, else NotFound on memberId."""
    try:
        member_id = int(member_ref) if member_ref.isdigit() else 0
    except ValueError:  # digits int() does not read ("²")
        member_id = 0
    if not fits_id(member_id):
        raise NotFound("Member not found", field="memberId")
    return member_id


def member_out(shown: members.Shown, *, email: bool = True) -> dict:
    """A member as the API shows it: a dict exactly in the shape `s.MemberOut` documents (built directly:
    validating a model and dumping it cost more than the rest of a member read; tests/api/test_members.py checks
    that the two agree, and the values)."""
    row = shown.row  # named, not unpacked by position: a column added to SHOWN_COLUMNS shifts nothing
    return {
        "id": row.id, "organizationId": row.organization_id, "loyaltyMemberId": row.loyalty_member_id,
        "memberType": row.member_type, "active": row.active, "accountStatus": row.account_status,
        "profile": {"email": row.email if email else None, "givenName": row.given_name,
                    "familyName": row.family_name, "birthDate": row.birth_date.isoformat() if row.birth_date else None,
                    "phone": row.phone, "street": row.street, "city": row.city, "zipCode": row.zip_code,
                    "countryCode": row.country_code},
        "customAttributes": row.custom_attributes or {},
        "identifiers": [{"type": kind, "code": code, "createdAt": json_time(at)}
                        for kind, code, at in shown.identifiers],
        "tiers": [{"loyaltyProgramId": program, "loyaltyTierId": tier, "name": name, "source": source,
                   "expiresAt": json_time(expires)} for program, tier, name, source, expires in shown.tiers],
        "locale": row.locale, "createdAt": json_time(row.created_at), "updatedAt": json_time(row.updated_at)}


def _member_response(call: Call, member_id: int, status: int = 200):
    shown = members.shown_member(call.session, call.organization_id, member_id)
    return ok({"member": member_out(shown, email=partners.sees_email(call.actor))}, status)


@endpoint(f"{ORG}/members", "POST", role="members:write", body=s.MemberCreate, response=s.MemberEnvelope,
          status=201, tag="Members", summary="Create a member with a generated card code")
def create_member(call: Call):
    body: s.MemberCreate = call.body
    member, _ = enrolment.enrol_member(
        call.session, call.organization_id, actor=call.actor, profile=body.profile.given(),
        referral_code=body.referral_code, loyalty_member_id=body.loyalty_member_id, member_type=body.member_type,
        active=body.active, custom_attributes=body.custom_attributes, locale=body.locale)
    return _member_response(call, member.id, 201)


@endpoint(f"{ORG}/members", role="members:read", query=s.MemberListQuery, response=s.MemberPage, tag="Members",
          summary="List members", description=(
              f"`totalCount` is the number of matching members, exact up to {members.COUNT_CAP:,}; a larger set "
              f"answers {members.COUNT_CAP:,} (page on while pages come back full). It is taken from the page "
              "itself when the page is not full, and counted otherwise (an organisation's unfiltered list, once it "
              f"has been counted at {members.COUNT_CAP:,}, answers {members.COUNT_CAP:,} without counting again: "
              "members are never deleted)."))
def list_members(call: Call):
    q: s.MemberListQuery = call.query
    page = members.shown_page(call.session, call.organization_id, page=q.page, limit=q.limit,
                              order=parse_order(q.order, members.LIST_ORDER, "createdAt,desc"), email=q.email,
                              loyalty_member_id=q.loyalty_member_id, from_created_at=q.from_created_at,
                              to_created_at=q.to_created_at)
    email = partners.sees_email(call.actor)
    return ok(plain_page(page, [member_out(shown, email=email) for shown in page.items]))


@endpoint(f"{ORG}/members/batch", "POST", role="members:read", body=s.MemberBatch, response=s.MemberBatchOut,
          tag="Members", summary="Get members by id, reporting the ids not found")
def batch_members(call: Call):
    found = members.shown_members(call.session, call.organization_id, call.body.member_ids)
    email = partners.sees_email(call.actor)
    return ok({"members": [member_out(found[i], email=email) for i in call.body.member_ids if i in found],
               "notFound": [i for i in call.body.member_ids if i not in found]})


@endpoint(f"{ORG}/members/lookup", role="members:read", query=s.LookupQuery, response=s.MemberEnvelope,
          tag="Members", summary="Find a member by CARDCODE, APPCODE, EXTERNALCODE or ID")
def lookup_member(call: Call):
    member = members.lookup(call.session, call.organization_id, call.query.id_type, call.query.code)
    return _member_response(call, member.id)


@endpoint(f"{ORG}/members/<ref:memberId>", role="members:read", response=s.MemberEnvelope, tag="Members",
          summary="Get a member (an identifier works with the id-type header)", member_scope=partners.PROFILE)
def get_member(call: Call, memberId: str):
    return _member_response(call, member_id_of(call, memberId))


@endpoint(f"{ORG}/members/<ref:memberId>", "PATCH", role="members:write", body=s.MemberUpdate,
          response=s.MemberEnvelope, tag="Members", summary="Change a member's profile, status or attributes")
def update_member(call: Call, memberId: str):
    body: s.MemberUpdate = call.body
    member = members.update_member(
        call.session, resolve_member(call, memberId), actor=call.actor,
        profile=body.profile.given() if body.profile else None, custom_attributes=body.custom_attributes,
        active=body.active, member_type=body.member_type, account_status=body.account_status,
        loyalty_member_id=body.loyalty_member_id, locale=body.locale, reason=body.update_reason)
    return _member_response(call, member.id)


@endpoint(f"{ORG}/members/<memberId>/identifiers", "POST", role="members:write", body=s.IdentifierIn,
          response=s.MemberEnvelope, status=201, tag="Members", summary="Attach another identifier")
def add_identifier(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    members.add_identifier(call.session, member, call.body.type, call.body.code, actor=call.actor)
    return _member_response(call, member.id, 201)


@endpoint(f"{ORG}/search", role="members:read", query=s.SearchQuery, response=s.SearchOut, tag="Members",
          summary="Search accounts by identifier, name, email, city, zip code or birth date")
def search(call: Call):
    q: s.SearchQuery = call.query
    found = list(call.session.scalars(members.search_query(call.organization_id, q.q)
                                      .order_by(members.Member.id).limit(q.limit)))
    hits = [s.SearchHit(ref_id=str(m.id), preview=members.search_preview(m), type="ACCOUNT") for m in found]
    return ok(s.SearchOut(search_term=q.q, nr_of_results=len(hits), results={"ACCOUNT": hits}).dump())


@endpoint(f"{ORG}/loyalty-members/<loyaltyMemberId>", role="members:read", response=s.MemberEnvelope,
          tag="Members", summary="Get a member by loyaltyMemberId")
def get_loyalty_member(call: Call, loyaltyMemberId: str):
    return _member_response(call, members.get_by_loyalty_member_id(call.session, call.organization_id,
                                                                   loyaltyMemberId).id)


def _movement(call: Call, loyalty_member_id: str, kind: str):
    body: s.MovementIn = call.body
    movement = points.move_for_loyalty_member(call.session, call.organization_id, loyalty_member_id, kind,
                                              body.amount, actor=call.actor, reason=reason_of(body),
                                              ledger_id=body.ledger_id, account_id=body.ledger_account_id)
    done = transaction_out(call.session, movement.transactions[0])  # `TransactionEnvelope`'s JSON, as a dict
    return ok({"transaction": done, "ledgerTransactions": [done]}, 201, replayed=movement.replayed)


@endpoint(f"{ORG}/loyalty-members/<loyaltyMemberId>/mint", "POST", role="ledgers:write", body=s.MovementIn,
          response=s.TransactionEnvelope, status=201, tag="Points", idempotent=True,
          summary="Mint points to a member (default points account unless named)")
def mint(call: Call, loyaltyMemberId: str):
    return _movement(call, loyaltyMemberId, "mint")


@endpoint(f"{ORG}/loyalty-members/<loyaltyMemberId>/burn", "POST", role="ledgers:write", body=s.MovementIn,
          response=s.TransactionEnvelope, status=201, tag="Points", idempotent=True,
          summary="Burn points from a member; 409 beyond the balance")
def burn(call: Call, loyaltyMemberId: str):
    return _movement(call, loyaltyMemberId, "burn")


@endpoint(f"{ORG}/members/<memberId>/wallet", role="ledgers:read", response=s.WalletOut, tag="Points",
          summary="A member's balances, the programme's main points account first", member_scope=partners.WALLET_READ)
def wallet(call: Call, memberId: str):
    member_id = member_id_of(call, memberId)
    return ok({"memberId": member_id,
               "balances": points.member_balances(call.session, call.organization_id, member_id)})


@endpoint(f"{ORG}/members/<memberId>/wallet", "POST", role="ledgers:write", body=s.OpenWalletIn,
          response=s.WalletOut, status=201, tag="Points",
          summary="Open the member's wallet in an account with nothing in it (no points move); again: the same")
def open_wallet(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    points.open_wallet(call.session, member, actor=call.actor, ledger_id=call.body.ledger_id,
                       account_id=call.body.ledger_account_id)
    return ok({"memberId": member.id, "balances": points.balances(call.session, member)}, 201)


@endpoint(f"{ORG}/members/<memberId>/wallet/transactions", role="ledgers:read", query=s.WalletTransactionQuery,
          response=s.TransactionPage, tag="Points", member_scope=partners.WALLET_READ,
          summary="The transactions of a member's wallet in one account, newest first")
def wallet_transactions(call: Call, memberId: str):
    member = resolve_member(call, memberId)
    program = organizations.default_program(call.session, member.organization_id)
    try:
        account = statements.member_account(call.session, member, call.query.ledger_account_id,
                                            program.points_account_id)
    except NotFound:
        raise NotFound("Ledger account not found", field="ledgerAccountId") from None
    wallet = statements.own_wallet(call.session, member, account)
    stmt = select(LedgerTransaction).where(LedgerTransaction.ledger_account_id == account.id)
    stmt = stmt.where(false() if wallet is None else (LedgerTransaction.from_wallet_id == wallet.id)
                      | (LedgerTransaction.to_wallet_id == wallet.id))
    return page_response(call, stmt, s.TransactionPage, lambda txs: transactions_out(call.session, txs),
                         whole_page=True, orders={"createdAt": LedgerTransaction.created_at, "id": LedgerTransaction.id},
                         default="id,desc")


@endpoint(f"{ORG}/members/<memberId>/loyalty-programs/<int:loyaltyProgramId>/tier", "PUT", role="tiers:write",
          body=s.SetTierIn, response=s.MemberTierEnvelope, tag="Tiers",
          summary="Set a member's tier by hand, optionally until expiresAt (null removes it)")
def set_tier(call: Call, memberId: str, loyaltyProgramId: int):
    member = resolve_member(call, memberId)
    program = organizations.get_program(call.session, call.organization_id, loyaltyProgramId)
    tier = (tiers.get_tier(call.session, call.organization_id, call.body.loyalty_tier_id, program.id)
            if call.body.loyalty_tier_id is not None else None)
    state = tiers.set_tier(call.session, member.id, program, tier, actor=call.actor,
                           expires_at=call.body.expires_at, reason=call.body.reason)
    return ok(s.MemberTierEnvelope(member_tier=s.MemberTierOut(
        member_id=member.id, loyalty_program_id=program.id, loyalty_tier_id=state.tier_id, source=state.source,
        expires_at=state.expires_at, updated_at=state.updated_at)).dump())


@endpoint(f"{ORG}/members/<memberId>/loyalty-programs/<int:loyaltyProgramId>/tier-history", role="tiers:read",
          response=s.TierHistoryList, tag="Tiers", summary="Every tier change of a member, newest first")
def tier_history(call: Call, memberId: str, loyaltyProgramId: int):
    member = resolve_member(call, memberId)
    program = organizations.get_program(call.session, call.organization_id, loyaltyProgramId)
    rows = [s.TierHistoryOut(id=h.id, from_tier_id=h.from_tier_id, to_tier_id=h.to_tier_id, source=h.source,
                             reason=h.reason, expires_at=h.expires_at, created_at=h.created_at)
            for h in tiers.history(call.session, member.id, program.id)]
    return ok(s.TierHistoryList(results=rows).dump())
