"""Every id a request body carries must name an object of the caller's own organisation.

The list of (operation, field) pairs comes from the OpenAPI document: every
request-body property whose name ends in `Id` or `Ids`, at any depth. Each pair
is either in CASES (sent with organisation A's id under organisation B's key:
refused with 404 or 422 naming the field, and not one row of any table changed)
or in NOT_REFERENCES with the reason it names nothing of another organisation.
A new id field that is in neither makes the test fail.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import select

from portal.domain.models import metadata
from tests.conftest import Api

PREFIX = "/api/v1/organizations/{organizationId}"


@dataclass(frozen=True)
class Mine:
    """An object of the calling organisation (B)."""
    name: str


@dataclass(frozen=True)
class Theirs:
    """The same kind of object of the other organisation (A)."""
    name: str


@dataclass
class Case:
    body: dict
    error_field: str | None = None  # default: the field, with [] as [0]
    check: Callable[[Any, dict], None] | None = None  # for the routes that answer per item


# Not references to stored objects: what they name is chosen by the caller, or is ignored.
NOT_REFERENCES = {
    "externalId": "the caller's own reference to the object in its own system; names nothing stored here",
    "atomicSetId": "a label the caller picks to group the items of this request",
    ("POST", "/members", "loyaltyMemberId"): "the new member's own public id, chosen by the caller",
    ("PATCH", "/members/{memberId}", "loyaltyMemberId"): "the member's own public id, set by the caller",
    ("POST", "/events", "organizationId"): "ignored: the token's organisation applies (documented on the field)",
    ("PATCH", "/portals/{portalId}", "publicId"): "the app's own public id, accepted as the seed sends it; never changed",
}


def _not_found_in_batch(response, world):
    assert response.status_code == 200, response.get_json()
    assert response.json["members"] == [] and response.json["notFound"] == [world["A"]["member"]], response.json


def _order_refused(field):
    def check(response, world):
        assert response.status_code == 200, response.get_json()
        (row,) = response.json["results"]
        assert row["status"] == "failed" and row["error"]["status"] == 404, row
        assert field in row["error"]["errors"], row
    return check


def _item_refused(field):
    def check(response, world):
        assert response.status_code == 200, response.get_json()
        assert response.json["processed"] == [], response.json
        (item,) = response.json["failed"]
        assert item["status"] == 404 and field in item["errors"], item
    return check


ORDER = {"externalId": "o-1", "status": "confirmed", "total": 10}
PAID = {**ORDER, "pointsRedeemed": 5, "pointsRedeemedValue": 1}
EFFECTS = "/campaigns/{campaignId}/actions"
ACTION = "/campaigns/{campaignId}/actions/{actionId}"

# One effect per id field an effect can carry, naming the other organisation's object.
FOREIGN_EFFECTS = {
    "ledgerAccountId": {"type": "award_points", "points": 5, "ledgerAccountId": Theirs("account")},
    "couponBookId": {"type": "assign_coupon", "couponBookId": Theirs("book")},
    "tierId": {"type": "set_tier", "tierId": Theirs("tier")},
    "missionId": {"type": "increment_mission", "missionId": Theirs("mission")},
}

CASES: dict[tuple[str, str, str], Case] = {
    ("POST", "/audiences", "memberIds"): Case({"name": "Stolen", "kind": "list", "memberIds": [Theirs("member")]}),
    ("PATCH", "/audiences/{audienceId}", "addMemberIds"): Case({"addMemberIds": [Theirs("member")]}),
    ("POST", "/barcodes", "customerId"): Case(
        {"offerId": Mine("book"), "customerId": Theirs("member"), "channel": "MAIL"}),
    ("POST", "/barcodes", "offerId"): Case(
        {"offerId": Theirs("book"), "customerId": Mine("member"), "channel": "MAIL"}),
    ("POST", "/barcodes/batch", "barcodes[].customerId"): Case(
        {"barcodes": [{"offerId": Mine("book"), "customerId": Theirs("member"), "channel": "MAIL"}]}),
    ("POST", "/barcodes/batch", "barcodes[].offerId"): Case(
        {"barcodes": [{"offerId": Theirs("book"), "customerId": Mine("member"), "channel": "MAIL"}]}),
    ("POST", "/campaigns", "loyaltyProgramId"): Case({"code": "STOLEN", "name": "S", "loyaltyProgramId": Theirs("program")}),
    ("POST", "/campaigns", "tierIds"): Case({"code": "STOLEN", "name": "S", "tierIds": [Theirs("tier")]}),
    ("POST", "/campaigns", "audienceIds"): Case({"code": "STOLEN", "name": "S", "audienceIds": [Theirs("audience")]}),
    ("PATCH", "/campaigns/{campaignId}", "tierIds"): Case({"tierIds": [Theirs("tier")]}),
    ("PATCH", "/campaigns/{campaignId}", "audienceIds"): Case({"audienceIds": [Theirs("audience")]}),
    # A campaign action's effects name the same things whether the action is added or changed.
    **{(method, path, f"effects[].{field}"): Case({"effects": [effect]})
       for method, path in (("POST", EFFECTS), ("PATCH", ACTION)) for field, effect in FOREIGN_EFFECTS.items()},
    ("POST", "/coupon-books", "loyaltyProgramId"): Case(
        {"name": "Stolen", "type": "REWARD", "loyaltyProgramId": Theirs("program")}),
    ("PATCH", "/coupon-books/{bookId}", "loyaltyProgramId"): Case({"loyaltyProgramId": Theirs("program")}),
    ("POST", "/coupon-books/{bookId}/assign", "memberId"): Case({"memberId": Theirs("member")}),
    ("POST", "/coupon-books/{bookId}/use", "memberId"): Case({"memberId": Theirs("member"), "systemUniqueKey": "u-1"}),
    ("PATCH", "/coupon-books/{bookId}/codes/{couponId}", "memberId"): Case({"memberId": Theirs("member")}),
    ("POST", "/members/{memberId}/wallet", "ledgerId"): Case({"ledgerId": Theirs("ledger")}),
    ("POST", "/members/{memberId}/wallet", "ledgerAccountId"): Case({"ledgerAccountId": Theirs("account")}),
    ("POST", "/events", "memberId"): Case(
        {"systemUniqueKey": "e-1", "memberId": Theirs("member"), "eventType": "member-purchase-order-confirmed"}),
    ("POST", "/ledger-transactions/batch", "items[].ledgerId"): Case({"items": [
        {"ledgerId": Theirs("ledger"), "ledgerAccountId": Mine("account"), "amount": 1, "toWalletId": Mine("wallet")}]}, check=_item_refused("items[0].ledgerId")),
    ("POST", "/ledger-transactions/batch", "items[].ledgerAccountId"): Case({"items": [
        {"ledgerId": Mine("ledger"), "ledgerAccountId": Theirs("account"), "amount": 1, "toWalletId": Mine("wallet")}]}, check=_item_refused("items[0].ledgerAccountId")),
    ("POST", "/ledger-transactions/batch", "items[].toWalletId"): Case({"items": [
        {"ledgerId": Mine("ledger"), "ledgerAccountId": Mine("account"), "amount": 1, "toWalletId": Theirs("wallet")}]}, check=_item_refused("items[0].toWalletId")),
    ("POST", "/ledger-transactions/batch", "items[].fromWalletId"): Case({"items": [
        {"ledgerId": Mine("ledger"), "ledgerAccountId": Mine("account"), "amount": 1, "fromWalletId": Theirs("wallet")}]}, check=_item_refused("items[0].fromWalletId")),
    ("POST", "/ledger-transactions/batch", "items[].organizationId"): Case({"items": [
        {"ledgerId": Mine("ledger"), "ledgerAccountId": Mine("account"), "amount": 1, "toWalletId": Mine("wallet"),
         "organizationId": Theirs("org")}]}),
    ("POST", "/ledgers/{ledgerId}/accounts/{ledgerAccountId}/capture", "transactions[].ledgerTransactionId"): Case(
        {"transactions": [{"ledgerTransactionId": Theirs("pending")}]}),
    ("POST", "/ledgers/{ledgerId}/accounts/{ledgerAccountId}/transactions", "toWalletId"): Case(
        {"amount": 1, "toWalletId": Theirs("wallet")}),
    ("POST", "/ledgers/{ledgerId}/accounts/{ledgerAccountId}/transactions", "fromWalletId"): Case(
        {"amount": 1, "fromWalletId": Theirs("wallet")}),
    ("POST", "/ledgers/{ledgerId}/transaction-sets", "transactions[].ledgerAccountId"): Case({"transactions": [
        {"ledgerAccountId": Theirs("account"), "amount": 1, "toWalletId": Mine("wallet")}]}),
    ("POST", "/ledgers/{ledgerId}/transaction-sets", "transactions[].toWalletId"): Case({"transactions": [
        {"ledgerAccountId": Mine("account"), "amount": 1, "toWalletId": Theirs("wallet")}]}),
    ("POST", "/ledgers/{ledgerId}/transaction-sets", "transactions[].fromWalletId"): Case({"transactions": [
        {"ledgerAccountId": Mine("account"), "amount": 1, "fromWalletId": Theirs("wallet")}]}),
    ("POST", "/loyalty-members/{loyaltyMemberId}/mint", "ledgerId"): Case({"amount": 1, "ledgerId": Theirs("ledger")}),
    ("POST", "/loyalty-members/{loyaltyMemberId}/mint", "ledgerAccountId"): Case(
        {"amount": 1, "ledgerAccountId": Theirs("account")}),
    ("POST", "/loyalty-members/{loyaltyMemberId}/burn", "ledgerId"): Case({"amount": 1, "ledgerId": Theirs("ledger")}),
    ("POST", "/loyalty-members/{loyaltyMemberId}/burn", "ledgerAccountId"): Case(
        {"amount": 1, "ledgerAccountId": Theirs("account")}),
    ("POST", "/members/batch", "memberIds"): Case({"memberIds": [Theirs("member")]}, check=_not_found_in_batch),
    ("PUT", "/members/{memberId}/loyalty-programs/{loyaltyProgramId}/tier", "loyaltyTierId"): Case(
        {"loyaltyTierId": Theirs("tier")}),
    ("POST", "/missions", "ledgerAccountId"): Case(
        {"name": "Stolen", "eventType": "member-purchase-order-confirmed", "goalCount": 1,
         "ledgerAccountId": Theirs("account")}),
    ("PATCH", "/missions/{missionId}", "ledgerAccountId"): Case({"ledgerAccountId": Theirs("account")}),
    ("POST", "/purchase-orders/import", "orders[].memberId"): Case(
        {"orders": [{**ORDER, "memberId": Theirs("member")}]}, check=_order_refused("memberId")),
    ("POST", "/purchase-orders/import", "orders[].loyaltyMemberId"): Case(
        {"orders": [{**ORDER, "loyaltyMemberId": Theirs("lmid")}]}, check=_order_refused("loyaltyMemberId")),
    ("POST", "/purchase-orders/import", "orders[].reservationId"): Case(
        {"orders": [{**PAID, "memberId": Mine("member"), "reservationId": Theirs("reservation")}]},
        check=_order_refused("reservationId")),
    ("POST", "/members/{memberId}/purchase-orders", "reservationId"): Case(
        {**PAID, "reservationId": Theirs("reservation")}),
    ("POST", "/purchase-orders/simulate", "reservationId"): Case(
        {**PAID, "memberId": Mine("member"), "reservationId": Theirs("reservation")}),
    ("POST", "/purchase-orders/simulate", "memberId"): Case({**ORDER, "memberId": Theirs("member")}),
    ("POST", "/purchase-orders/simulate", "loyaltyMemberId"): Case(
        {**ORDER, "loyaltyMemberId": Theirs("lmid")}),
    ("POST", "/referral-programs", "ledgerAccountId"): Case({"name": "Stolen", "ledgerAccountId": Theirs("account")}),
    ("PATCH", "/referral-programs/{referralProgramId}", "ledgerAccountId"): Case({"ledgerAccountId": Theirs("account")}),
    ("POST", "/referral-programs/{referralProgramId}/codes", "memberId"): Case({"memberId": Theirs("member")}),
    ("POST", "/portals", "loyaltyProgramId"): Case({"name": "Stolen", "authRedirectUrl": "https://p.example/cb",
                                                    "loyaltyProgramId": Theirs("program")}),
    ("PATCH", "/portals/{portalId}", "loyaltyProgramId"): Case({"loyaltyProgramId": Theirs("program")}),
    ("POST", "/signup-forms", "couponBookId"): Case({"name": "Stolen", "purpose": "offer", "couponBookId": Theirs("book")}),
    ("PATCH", "/signup-forms/{signupFormId}", "couponBookId"): Case({"purpose": "offer", "couponBookId": Theirs("book")}),
}


# --- the document --------------------------------------------------------------------------------

def body_id_fields(doc: dict) -> set[tuple[str, str, str]]:
    """(METHOD, path below the organisation, field) for every request-body property named *Id or *Ids."""
    schemas = doc["components"]["schemas"]

    def resolve(schema):
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def walk(schema, prefix, found):
        schema = resolve(schema)
        for key in ("anyOf", "oneOf", "allOf"):
            for option in schema.get(key, []):
                walk(option, prefix, found)
        if "items" in schema:
            walk(schema["items"], prefix + "[]", found)
        for name, prop in (schema.get("properties") or {}).items():
            if name.endswith(("Id", "Ids")):
                found.add(f"{prefix}.{name}".lstrip(".").replace("[].", "[]."))
            walk(prop, f"{prefix}.{name}".lstrip("."), found)

    pairs = set()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if not schema:
                continue
            found: set[str] = set()
            walk(schema, "", found)
            pairs |= {(method.upper(), path.removeprefix(PREFIX), f) for f in found}
    return pairs


def is_allowed(pair: tuple[str, str, str]) -> bool:
    return pair in NOT_REFERENCES or pair[2].rsplit(".", 1)[-1] in NOT_REFERENCES


# --- the two organisations -----------------------------------------------------------------------

def build(api: Api) -> dict[str, Any]:
    """One object of every kind a body can name, made through the API."""
    def made(response, *keys):
        assert response.status_code in (200, 201), response.get_json()
        value = response.json
        for key in keys:
            value = value[key]
        return value

    member = made(api.post("/members", json={"profile": {"email": "m@example.com", "givenName": "M"}}), "member")
    minted = made(api.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint", json={"amount": 50}), "transaction")
    base = f"/ledgers/{minted['ledgerId']}/accounts/{minted['ledgerAccountId']}"
    pending = made(api.post(f"{base}/transactions", json={"amount": 5, "toWalletId": minted["toWalletId"],
                                                          "captureMethod": "manual"}), "transactions", 0)
    program = api.org.program.id
    tier = made(api.post(f"/loyalty-programs/{program}/tiers", json={"name": "Gold", "minPoints": 10}),
                "loyaltyTier", "id")
    audience = made(api.post("/audiences", json={"name": "VIP", "kind": "list", "memberIds": [member["id"]]}),
                    "audience", "id")
    campaign = made(api.post("/campaigns", json={"code": "C", "name": "C"}), "campaign", "id")
    action = made(api.post(f"/campaigns/{campaign}/actions", json={"effects": [{"type": "award_points", "points": 1}]}),
                  "action", "id")
    book = made(api.post("/coupon-books", json={"name": "B", "type": "REWARD", "publishingStatus": "published"}),
                "couponBook", "id")
    mission = made(api.post("/missions", json={"name": "M", "eventType": "member-purchase-order-confirmed",
                                               "goalCount": 2}), "mission", "id")
    referral = made(api.post("/referral-programs", json={"name": "R"}), "referralProgram", "id")
    portal = made(api.post("/portals", json={"name": "P", "authRedirectUrl": "https://p.example/cb"}), "portal", "id")
    reservation = made(api.post(f"/members/{member['id']}/points-reservations", json={"points": 5}),
                       "reservation", "id")
    signup_form = made(api.post("/signup-forms", json={"name": "S", "purpose": "loyalty_card"}), "signupForm", "id")
    return {"org": api.org.id, "member": member["id"], "lmid": member["loyaltyMemberId"], "ledger": minted["ledgerId"],
            "account": minted["ledgerAccountId"], "wallet": minted["toWalletId"], "pending": pending["id"],
            "program": program, "tier": tier, "audience": audience, "campaign": campaign, "action": action,
            "book": book, "mission": mission, "referral": referral, "signup_form": signup_form,
            "portal": portal, "reservation": reservation}


def build_with_code(api: Api) -> dict[str, Any]:
    """build, and a code in the coupon book (for the routes of one code)."""
    world = build(api)
    assert api.post(f"/coupon-books/{world['book']}/codes", json={"codes": ["ONE-CODE-1"]}).status_code == 201
    world["code"] = api.get(f"/coupon-books/{world['book']}/codes").json["results"][0]["id"]
    return world


CODE_PATH_PARAMS = {"couponId": "code"}


PATH_PARAMS = {"audienceId": "audience", "campaignId": "campaign", "actionId": "action", "bookId": "book",
               "ledgerId": "ledger", "ledgerAccountId": "account", "loyaltyMemberId": "lmid", "memberId": "member",
               "loyaltyProgramId": "program", "missionId": "mission", "referralProgramId": "referral",
               "signupFormId": "signup_form", "portalId": "portal"}


def fill(template, world):
    if isinstance(template, Mine):
        return world["B"][template.name]
    if isinstance(template, Theirs):
        return world["A"][template.name]
    if isinstance(template, dict):
        return {k: fill(v, world) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, world) for v in template]
    return template


def snapshot(session) -> dict[str, list[str]]:
    """Every row of every table, to show that a refused request changed nothing."""
    session.expire_all()
    return {table.name: sorted(json.dumps([str(v) for v in row]) for row in session.execute(select(table)))
            for table in metadata.sorted_tables}


# --- the test --------------------------------------------------------------------------------------

def test_every_body_id_must_belong_to_the_callers_organisation(api, session, other_org):
    doc = api.client.get("/api/v1/openapi.json").json
    pairs = body_id_fields(doc)
    uncovered = sorted(p for p in pairs if p not in CASES and not is_allowed(p))
    assert not uncovered, f"id fields with no cross-organisation case (add to CASES or NOT_REFERENCES): {uncovered}"
    stale = sorted(set(CASES) - pairs)
    assert not stale, f"CASES not in the OpenAPI document any more: {stale}"

    world = {"A": build_with_code(Api(api.client, other_org)), "B": build_with_code(api)}
    failures = []
    for (method, path, field), case in sorted(CASES.items()):
        url = path.format(**{name: world["B"][key] for name, key in {**PATH_PARAMS, **CODE_PATH_PARAMS}.items()})
        before = snapshot(session)
        response = api.request(method, url, json=fill(case.body, world))
        try:
            if case.check:
                case.check(response, world)
            else:
                expected = case.error_field or field.replace("[]", "[0]")
                body = response.get_json(silent=True) or {}
                assert response.status_code in (404, 422), (response.status_code, body)
                assert response.mimetype == "application/problem+json", response.mimetype
                assert expected in body.get("errors", {}), (expected, body)
            after = snapshot(session)
            changed = sorted(name for name in after if after[name] != before[name])
            assert not changed, f"tables written: {changed}"
        except AssertionError as error:
            failures.append(f"{method} {path} {field}: {error}")
    assert not failures, "\n".join(failures)
