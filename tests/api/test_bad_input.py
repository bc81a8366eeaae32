"""Bad input: every refusal is problem+json naming the field, and nothing is written."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from portal.domain.staff import ApiKey
from portal.extensions import db

from ..factories import make_key
from .conftest import CommittingApi, problem, row_counts


@pytest.fixture
def world(api, org, other_org):
    """Objects of this organisation and of another one, by name, for the paths below."""
    ids = {}
    for prefix, client in (("", api), ("other_", CommittingApi(api.client, other_org))):
        bundle = client.org
        member = client.post("/members", json={"profile": {"email": f"{prefix}w@example.com"}}).json["member"]
        tx = client.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint", json={"amount": 50}).json[
            "transaction"]
        tier = client.post(f"/loyalty-programs/{bundle.program.id}/tiers", json={"name": "Gold", "minPoints": 10}).json
        ids.update({f"{prefix}member": member["id"], f"{prefix}lmid": member["loyaltyMemberId"],
                    f"{prefix}ledger": tx["ledgerId"], f"{prefix}account": tx["ledgerAccountId"],
                    f"{prefix}tx": tx["id"], f"{prefix}wallet": tx["toWalletId"],
                    f"{prefix}program": bundle.program.id, f"{prefix}tier": tier["loyaltyTier"]["id"],
                    f"{prefix}org": bundle.id})
    return ids


def raw(api, method, path, data, content_type="application/json", token=None):
    """Send bytes as they are (NaN, arrays, broken JSON)."""
    headers = {"Authorization": f"Bearer {token or api.token}", "Content-Type": content_type}
    db.session.commit()
    return api.client.open(api.url(path), method=method, data=data, headers=headers)


# --- the body itself ------------------------------------------------------------------------------

@pytest.mark.parametrize("data", ['{"amount": 10', "amount=10", "{'amount': 10}", "\xff\xfe", "nul"])
def test_malformed_json_is_400(api, world, session, data):
    before = row_counts(session)
    problem(raw(api, "POST", f"/loyalty-members/{world['lmid']}/mint", data.encode("latin-1")), 400, "body")
    assert row_counts(session) == before


@pytest.mark.parametrize("data", ['[{"amount": 10}]', '"amount"', "10", "null", "", "   "])
def test_a_body_that_is_not_an_object_is_400(api, world, session, data):
    before = row_counts(session)
    problem(raw(api, "POST", f"/loyalty-members/{world['lmid']}/mint", data), 400, "body")
    assert row_counts(session) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/xml"])
def test_wrong_content_type_is_415(api, world, session, content_type):
    before = row_counts(session)
    problem(raw(api, "POST", f"/loyalty-members/{world['lmid']}/mint", '{"amount": 10}', content_type), 415, "body")
    assert row_counts(session) == before


def test_a_body_over_one_megabyte_is_413(api, world, session):
    before = row_counts(session)
    padding = "x" * (1024 * 1024)
    data = json.dumps({"profile": {"givenName": "A"}, "customAttributes": {"blob": padding}})
    problem(raw(api, "POST", "/members", data), 413, "body")
    assert row_counts(session) == before


# --- amounts and keys ----------------------------------------------------------------------------------

BAD_AMOUNTS = ["0", "-1", "1.5", str(2 ** 63), "NaN", '"10"', "1e400", "10.5", "true", "Infinity", "[10]", "{}",
               "18446744073710"]


def _amount_cases(world):
    base = f"/ledgers/{world['ledger']}/accounts/{world['account']}"
    return [
        ("POST", f"/loyalty-members/{world['lmid']}/mint", '{"amount": %s}', "amount"),
        ("POST", f"/loyalty-members/{world['lmid']}/burn", '{"amount": %s}', "amount"),
        ("POST", f"{base}/transactions", '{"amount": %s, "toWalletId": ' + str(world["wallet"]) + "}", "amount"),
        ("POST", f"/ledgers/{world['ledger']}/transaction-sets",
         '{"transactions": [{"ledgerAccountId": %d, "amount": 1, "toWalletId": %d}, '
         '{"ledgerAccountId": %d, "amount": %%s, "toWalletId": %d}]}' % (world["account"], world["wallet"],
                                                                       world["account"], world["wallet"]),
         "transactions[1].amount"),
        ("POST", f"{base}/capture", '{"transactions": [{"ledgerTransactionId": %d, "captureAmount": %%s}]}'
         % world["tx"], "transactions[0].captureAmount"),
    ]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_bad_amounts_are_422_naming_the_amount(api, world, session, amount):
    before = row_counts(session)
    for method, path, template, field in _amount_cases(world):
        problem(raw(api, method, path, template % amount), 422, field)
    assert row_counts(session) == before


def test_a_256_character_key_is_422(api, world, session):
    before = row_counts(session)
    problem(api.post(f"/loyalty-members/{world['lmid']}/mint", json={"amount": 1, "systemUniqueKey": "k" * 256}),
            422, "systemUniqueKey")
    problem(api.post(f"/ledgers/{world['ledger']}/accounts/{world['account']}/transactions",
                     json={"amount": 1, "toWalletId": world["wallet"], "systemUniqueKey": "k" * 256}),
            422, "systemUniqueKey")
    problem(api.post(f"/loyalty-members/{world['lmid']}/mint", json={"amount": 1, "systemUniqueKey": ""}),
            422, "systemUniqueKey")
    assert row_counts(session) == before
    assert api.post(f"/loyalty-members/{world['lmid']}/mint",
                    json={"amount": 1, "systemUniqueKey": "k" * 255}).status_code == 201


@pytest.mark.parametrize("field, value", [("description", "d" * 501), ("tags", ["t"] * 51), ("tags", ["t" * 101]),
                                          ("externalEventDate", "2026-11-23T10:00:00"),
                                          ("externalEventDate", "0001-01-01T00:00:00+01:00"),
                                          ("externalId", "e" * 256), ("description", "nul\u0000byte")])
def test_reason_fields_are_checked(api, world, session, field, value):
    before = row_counts(session)
    body = problem(api.post(f"/loyalty-members/{world['lmid']}/mint", json={"amount": 1, field: value}), 422)
    assert any(name.startswith(field) for name in body["errors"]), body
    assert row_counts(session) == before


# --- mass assignment -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, body, field", [
    ("POST", "/members", {"balance": 100}, "balance"),
    ("POST", "/members", {"organizationId": "{other_org}"}, "organizationId"),
    ("POST", "/members", {"id": 1}, "id"),
    ("POST", "/members", {"accountStatus": "ACTIVE"}, "accountStatus"),
    ("POST", "/members", {"profile": {"balance": 1}}, "profile.balance"),
    ("PATCH", "/members/{member}", {"balance": 100}, "balance"),
    ("PATCH", "/members/{member}", {"organizationId": "{other_org}"}, "organizationId"),
    ("PATCH", "/members/{member}", {"createdAt": "2020-01-01T00:00:00Z"}, "createdAt"),
    ("POST", "/loyalty-members/{lmid}/mint", {"amount": 1, "organizationId": "{other_org}"}, "organizationId"),
    ("POST", "/loyalty-members/{lmid}/mint", {"amount": 1, "balance": 5}, "balance"),
    ("POST", "/ledgers/{ledger}/accounts", {"name": "A", "balance": 5}, "balance"),
    ("POST", "/ledgers/{ledger}/accounts", {"name": "A", "organizationId": "{other_org}"}, "organizationId"),
    ("POST", "/api-keys", {"name": "k", "roles": ["members:read"], "organizationId": "{other_org}"}, "organizationId"),
    ("POST", "/users", {"email": "u@example.com", "password": "correct-horse-9", "roles": ["members:read"],
                        "active": True, "organizationId": "{other_org}"}, "organizationId"),
    ("PATCH", "/loyalty-programs/{program}", {"organizationId": "{other_org}"}, "organizationId"),
    ("PATCH", "/loyalty-programs/{program}/tiers/{tier}", {"loyaltyProgramId": "{other_program}"},
     "loyaltyProgramId"),
])
def test_mass_assignment_is_refused(api, world, session, method, path, body, field):
    def fill(value):
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            return world[value[1:-1]]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    before = row_counts(session)
    problem(api.request(method, path.format(**world), json=fill(body)), 422, field)
    assert row_counts(session) == before


# --- unknown ids and other organisations' ids ---------------------------------------------------------

OBJECT_ROUTES = [
    ("GET", "/members/{member}", None, "memberId"),
    ("PATCH", "/members/{member}", {"profile": {"city": "Evil"}}, "memberId"),
    ("GET", "/members/{member}/wallet", None, "memberId"),
    ("POST", "/members/{member}/identifiers", {"type": "APPCODE", "code": "stolen"}, "memberId"),
    ("GET", "/loyalty-members/{lmid}", None, "loyaltyMemberId"),
    ("POST", "/loyalty-members/{lmid}/mint", {"amount": 5}, "loyaltyMemberId"),
    ("POST", "/loyalty-members/{lmid}/burn", {"amount": 5}, "loyaltyMemberId"),
    ("GET", "/ledgers/{ledger}", None, "ledgerId"),
    ("GET", "/ledgers/{ledger}/accounts", None, "ledgerId"),
    ("POST", "/ledgers/{ledger}/accounts", {"name": "Stolen"}, "ledgerId"),
    ("GET", "/ledgers/{ledger}/accounts/{account}", None, "ledgerAccountId"),
    ("GET", "/ledgers/{ledger}/accounts/{account}/transactions", None, "ledgerAccountId"),
    ("POST", "/ledgers/{ledger}/accounts/{account}/transactions", {"amount": 5, "toWalletId": "{wallet}"},
     "ledgerAccountId"),
    ("POST", "/ledgers/{ledger}/accounts/{account}/transactions/{tx}/revert", {}, "ledgerAccountId"),
    ("POST", "/ledgers/{ledger}/accounts/{account}/capture", {"transactions": [{"ledgerTransactionId": "{tx}"}]},
     "ledgerAccountId"),
    ("POST", "/ledgers/{ledger}/transaction-sets",
     {"transactions": [{"ledgerAccountId": "{account}", "amount": 1, "toWalletId": "{wallet}"}]}, "ledgerId"),
    ("GET", "/loyalty-programs/{program}", None, "loyaltyProgramId"),
    ("PATCH", "/loyalty-programs/{program}", {"name": "Stolen"}, "loyaltyProgramId"),
    ("GET", "/loyalty-programs/{program}/tiers", None, "loyaltyProgramId"),
    ("POST", "/loyalty-programs/{program}/tiers", {"name": "Stolen", "minPoints": 99}, "loyaltyProgramId"),
    ("GET", "/loyalty-programs/{program}/tiers/{tier}", None, "loyaltyTierId"),
    ("PATCH", "/loyalty-programs/{program}/tiers/{tier}", {"name": "Stolen"}, "loyaltyTierId"),
    ("PUT", "/members/{member}/loyalty-programs/{program}/tier", {"loyaltyTierId": "{tier}"}, "memberId"),
    ("GET", "/members/{member}/loyalty-programs/{program}/tier-history", None, "memberId"),
    ("POST", "/api-keys/{key}/revoke", None, "apiKeyId"),
]


def _fill(template, values):
    if isinstance(template, str):
        if template.startswith("{") and template.endswith("}") and template[1:-1] in values:
            return values[template[1:-1]]
        return template.format(**values)
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    return template


ID_FIELDS = {"tx": "ledgerTransactionId", "tier": "loyaltyTierId", "wallet": "walletId", "account": "ledgerAccountId"}


def _field_of(name: str, body) -> str:
    """The body's own key for the placeholder {name} (a wallet is a toWalletId or a fromWalletId), else the id's name."""
    def find(node):
        if isinstance(node, dict):
            for key, value in node.items():
                found = key if value == "{" + name + "}" else find(value)
                if found:
                    return found
        if isinstance(node, list):
            return next(filter(None, map(find, node)), None)
        return None
    return find(body) or ID_FIELDS[name]


@pytest.mark.parametrize("method, path, body, field", OBJECT_ROUTES)
def test_another_organisations_objects_are_404(api, world, session, method, path, body, field):
    foreign = {name[len("other_"):]: value for name, value in world.items() if name.startswith("other_")}
    foreign["key"] = session.scalar(select(ApiKey.id).where(ApiKey.organization_id == world["other_org"]))
    before = row_counts(session)
    r = api.request(method, _fill(path, foreign), json=_fill(body, foreign))
    assert problem(r, 404, field)["type"].endswith("/not-found")
    assert row_counts(session) == before
    # Mixing: this organisation's container with another organisation's object inside.
    mixed = {**{k: v for k, v in world.items() if not k.startswith("other_")}, "key": foreign["key"]}
    for name in ("tx", "tier", "wallet", "account"):
        mixed_values = {**mixed, name: foreign[name]}
        if "{" + name + "}" in path or "{" + name + "}" in json.dumps(body or {}):
            refused = problem(api.request(method, _fill(path, mixed_values), json=_fill(body, mixed_values)), 404)
            # The foreign object is named as the body names it, wherever it sits ("transactions[0].toWalletId").
            assert [key.rsplit(".", 1)[-1] for key in refused["errors"]] == [_field_of(name, body)], refused
    assert row_counts(session) == before


@pytest.mark.parametrize("method, path, body, field", OBJECT_ROUTES)
def test_unknown_ids_are_404(api, world, session, method, path, body, field):
    unknown = {**{k: v for k, v in world.items() if not k.startswith("other_")}}
    for name in ("member", "ledger", "account", "tx", "program", "tier", "wallet"):
        unknown[name] = 987_654_321
    unknown["lmid"] = "no-such-member"
    unknown["key"] = 987_654_321
    before = row_counts(session)
    body_out = problem(api.request(method, _fill(path, unknown), json=_fill(body, unknown)), 404)
    if field:
        assert field in body_out["errors"], body_out
    assert row_counts(session) == before


def test_another_organisations_path_is_404(api, world, session):
    before = row_counts(session)
    for method, path, body in (("GET", "/members", None), ("POST", "/members", {}),
                               ("GET", f"/members/{world['other_member']}", None),
                               ("GET", "/ledgers", None), ("GET", "/audit-log", None)):
        r = api.request(method, f"/api/v1/organizations/{world['other_org']}{path}", json=body)
        problem(r, 404, "organizationId")
    problem(api.get(f"/api/v1/organizations/{2 ** 70}/members"), 404)
    assert row_counts(session) == before


@pytest.mark.parametrize("path, field", [("/members/{big}", "memberId"), ("/ledgers/{big}", "ledgerId"),
                                         ("/loyalty-programs/{big}", "loyaltyProgramId"),
                                         ("/members/lookup?idType=ID&code={big}", "code"),
                                         ("/ledgers/{ledger}/accounts/{big}", "ledgerAccountId")])
def test_ids_beyond_bigint_are_404_naming_the_id(api, world, path, field):
    # Not a 500 from the database's integer overflow: no such object, like any unknown id.
    body = problem(api.get(path.format(big=2 ** 64, **world)), 404, field)
    assert body["type"].endswith("/not-found")


@pytest.mark.parametrize("body, field", [({"memberIds": [2 ** 64]}, "memberIds[0]"), ({"memberIds": []}, "memberIds"),
                                         ({"memberIds": ["1"]}, "memberIds[0]"),
                                         ({"memberIds": list(range(1, 102))}, "memberIds")])
def test_member_batch_ids_are_checked(api, body, field):
    problem(api.post("/members/batch", json=body), 422, field)


# --- tokens and roles ---------------------------------------------------------------------------------

@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer pk_nope_nope",
                                    "Bearer not-a-key", "Token abc"])
def test_missing_or_invalid_token_is_401(api, world, session, header):
    before = row_counts(session)
    for method, path, body in (("GET", "/members", None), ("POST", "/members", {}),
                               ("POST", f"/loyalty-members/{world['lmid']}/mint", {"amount": 5})):
        headers = {} if header is None else {"Authorization": header}
        r = api.client.open(api.url(path), method=method, json=body, headers=headers)
        problem(r, 401, "Authorization")
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert row_counts(session) == before


def test_a_revoked_key_is_401(api, org, world, session):
    key = api.post("/api-keys", json={"name": "soon gone", "roles": ["admin"]}).json["apiKey"]
    api.post(f"/api-keys/{key['id']}/revoke")
    r = api.as_(key["apiKey"]).get("/members")
    problem(r, 401, "Authorization")
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    # A valid prefix with a wrong secret is not a key either.
    forged = key["apiKey"][:-4] + "AAAA"
    problem(api.as_(forged).get("/members"), 401, "Authorization")


@pytest.mark.parametrize("roles, method, path, body", [
    (["members:read"], "POST", "/members", {}),
    (["members:read"], "PATCH", "/members/{member}", {"profile": {"city": "X"}}),
    (["members:read"], "POST", "/loyalty-members/{lmid}/mint", {"amount": 5}),
    (["ledgers:read"], "POST", "/loyalty-members/{lmid}/burn", {"amount": 5}),
    (["ledgers:read"], "POST", "/ledgers", {"name": "L"}),
    (["members:write"], "GET", "/ledgers", None),
    (["ledgers:write"], "GET", "/members", None),
    (["tiers:read"], "POST", "/loyalty-programs/{program}/tiers", {"name": "T", "minPoints": 3}),
    (["tiers:read"], "PUT", "/members/{member}/loyalty-programs/{program}/tier", {"loyaltyTierId": "{tier}"}),
    (["members:write"], "POST", "/api-keys", {"name": "k", "roles": ["members:read"]}),
    (["members:write"], "GET", "/audit-log", None),
])
def test_a_token_without_the_role_is_403(api, org, world, session, roles, method, path, body):
    limited = api.as_(make_key(session, org, roles))
    before = row_counts(session)
    problem(limited.request(method, _fill(path, world), json=_fill(body, world)), 403, "role")
    assert row_counts(session) == before


def test_a_key_works_for_its_own_organisation_only(api, world, session, other_org):
    before = row_counts(session)
    foreign = api.as_(other_org.api_key)
    problem(foreign.get("/members"), 404, "organizationId")
    problem(foreign.post(f"/loyalty-members/{world['lmid']}/mint", json={"amount": 5}), 404, "organizationId")
    assert row_counts(session) == before
