"""API keys, staff users and the audit log: every write leaves a row naming who and what."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.domain.audit import AuditEntry
from portal.domain.staff import ApiKey

from ..factories import make_key, make_org, make_staff
from .conftest import problem, row_counts


def test_api_keys_are_shown_once_and_work_until_revoked(api, session):
    r = api.post("/api-keys", json={"name": "till 7", "roles": ["members:read", "ledgers:write"]})
    assert r.status_code == 201
    key = r.json["apiKey"]
    secret = key["apiKey"]
    assert secret.startswith(f"pk_{key['prefix']}_") and key["roles"] == ["ledgers:write", "members:read"]
    stored = session.get(ApiKey, key["id"])
    assert secret not in (stored.key_hash, stored.prefix)
    listed = {k["id"]: k for k in api.get("/api-keys?limit=100").json["results"]}
    assert listed[key["id"]]["apiKey"] is None and listed[key["id"]]["name"] == "till 7"
    till = api.as_(secret)
    assert till.get("/members").status_code == 200
    problem(till.get("/api-keys"), 403, "role")
    r = api.post(f"/api-keys/{key['id']}/revoke")
    assert r.status_code == 200 and r.json["apiKey"]["revokedAt"]
    body = problem(till.get("/members"), 401, "Authorization")
    assert "revoked" in body["detail"]


def test_nobody_grants_a_role_they_lack(api, org, session):
    limited = api.as_(make_key(session, org, ["users:write", "users:read", "members:read"]))
    before = row_counts(session)
    problem(limited.post("/api-keys", json={"name": "escalate", "roles": ["admin"]}), 403, "roles")
    problem(limited.post("/users", json={"email": "x@example.com", "password": "correct-horse-9",
                                         "roles": ["ledgers:write"]}), 403, "roles")
    assert row_counts(session) == before
    assert limited.post("/api-keys", json={"name": "ok", "roles": ["members:read"]}).status_code == 201


def test_unknown_roles_are_refused(api, session):
    before = row_counts(session)
    problem(api.post("/api-keys", json={"name": "x", "roles": ["superuser"]}), 422, "roles[0]")
    problem(api.post("/api-keys", json={"name": "x", "roles": []}), 422, "roles")
    assert row_counts(session) == before


def test_staff_users(api, session):
    r = api.post("/users", json={"email": "Clerk@Example.com", "name": "Clerk", "password": "correct-horse-9",
                                 "roles": ["members:read"]})
    assert r.status_code == 201
    user = r.json["user"]
    assert (user["email"], user["roles"], user["active"]) == ("clerk@example.com", ["members:read"], True)
    assert "password" not in user and "passwordHash" not in user
    assert [u["email"] for u in api.get("/users").json["results"]] == ["clerk@example.com"]
    problem(api.post("/users", json={"email": "clerk@example.com", "password": "correct-horse-9",
                                     "roles": ["members:read"]}), 409, "email")
    problem(api.post("/users", json={"email": "weak@example.com", "password": "short", "roles": ["members:read"]}),
            422, "password")
    problem(api.post("/users", json={"email": "weak@example.com", "password": "onlyletterslong",
                                     "roles": ["members:read"]}), 422, "password")


def _writes(api, org):
    """Every kind of write the Foundation's API offers, each as (expected action, callable)."""
    state = {}

    def member():
        r = api.post("/members", json={"profile": {"email": "audited@example.com"}})
        state["member"] = r.json["member"]
        return r

    def ledger_base():
        return f"/ledgers/{org.program.ledger_id}/accounts/{org.program.points_account_id}"

    def mint():
        r = api.post(f"/loyalty-members/{state['member']['loyaltyMemberId']}/mint", json={"amount": 50})
        state["wallet"] = r.json["transaction"]["toWalletId"]
        state["mint"] = r.json["transaction"]["id"]
        return r

    def hold():
        r = api.post(f"{ledger_base()}/transactions", json={"amount": 5, "fromWalletId": state["wallet"],
                                                             "captureMethod": "manual"})
        state["hold"] = r.json["transactions"][0]["id"]
        return r

    def small_mint():
        r = api.post(f"{ledger_base()}/transactions", json={"amount": 2, "toWalletId": state["wallet"]})
        state["small"] = r.json["transactions"][0]["id"]
        return r

    def tier():
        r = api.post(f"/loyalty-programs/{org.program.id}/tiers", json={"name": "Gold", "minPoints": 100})
        state["tier"] = r.json["loyaltyTier"]["id"]
        return r

    def key():
        r = api.post("/api-keys", json={"name": "k", "roles": ["members:read"]})
        state["key"] = r.json["apiKey"]["id"]
        return r

    def program():
        r = api.post("/loyalty-programs", json={"name": "Second"})
        state["program"] = r.json["loyaltyProgram"]["id"]
        return r

    return [
        ("member.created", member),
        ("member.updated", lambda: api.patch(f"/members/{state['member']['id']}", json={"profile": {"city": "X"}})),
        ("member.identifier_added", lambda: api.post(f"/members/{state['member']['id']}/identifiers",
                                                     json={"type": "APPCODE", "code": "aud-1"})),
        ("ledger.minted", mint),
        ("ledger.burned", lambda: api.post(f"/loyalty-members/{state['member']['loyaltyMemberId']}/burn",
                                           json={"amount": 1})),
        ("ledger.burned", hold),
        ("ledger.captured", lambda: api.post(f"{ledger_base()}/capture",
                                             json={"transactions": [{"ledgerTransactionId": state["hold"]}]})),
        ("ledger.minted", small_mint),
        ("ledger.reverted", lambda: api.post(f"{ledger_base()}/transactions/{state['small']}/revert", json={})),
        ("ledger.created", lambda: api.post("/ledgers", json={"name": "L"})),
        ("ledger_account.created", lambda: api.post(f"/ledgers/{org.program.ledger_id}/accounts", json={"name": "A"})),
        ("loyalty_program.created", program),
        ("loyalty_program.updated", lambda: api.patch(f"/loyalty-programs/{state['program']}", json={"name": "2"})),
        ("tier.created", tier),
        ("tier.updated", lambda: api.patch(f"/loyalty-programs/{org.program.id}/tiers/{state['tier']}",
                                           json={"color": "gold"})),
        ("member.tier_set", lambda: api.put(f"/members/{state['member']['id']}/loyalty-programs/{org.program.id}/tier",
                                            json={"loyaltyTierId": state["tier"]})),
        ("api_key.created", key),
        ("api_key.revoked", lambda: api.post(f"/api-keys/{state['key']}/revoke")),
        ("staff.created", lambda: api.post("/users", json={"email": "s@example.com", "password": "correct-horse-9",
                                                           "roles": ["members:read"]})),
    ]


def test_every_write_leaves_an_audit_row_with_actor_and_action(api, org, session):
    key_id = session.scalar(select(ApiKey.id).where(ApiKey.organization_id == org.id))
    start = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) or 0
    for action, write in _writes(api, org):
        before = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) or 0
        r = write()
        assert r.status_code in (200, 201), (action, r.json)
        session.expire_all()
        rows = session.scalars(select(AuditEntry).where(AuditEntry.id > before)).all()
        assert action in [row.action for row in rows], (action, [row.action for row in rows])
        for row in rows:
            assert (row.actor_kind, row.actor_id, row.organization_id) == ("api_key", key_id, org.id), row.action
            assert row.actor_label.startswith("key ")
    log = api.get("/audit-log?limit=100").json
    assert log["results"][0]["action"] == "staff.created"
    assert {"member.created", "ledger.reverted", "api_key.revoked"} <= {e["action"] for e in log["results"]}
    assert all(e["actorKind"] == "api_key" for e in log["results"] if e["id"] > start)


def test_audit_details_hold_no_personal_data(api, org, session):
    writes = _writes(api, org)
    for action, write in writes:
        response = write()
        assert response.status_code in (200, 201), (action, response.json)
    session.expire_all()
    rows = session.scalars(select(AuditEntry).where(AuditEntry.organization_id == org.id)).all()
    assert {action for action, _ in writes} <= {row.action for row in rows}  # every write was audited
    assert any(row.details for row in rows)  # details are kept, only without personal data
    for row in rows:
        text = repr((row.details, row.actor_label, row.target_type, row.target_id))
        for personal in ("audited@example.com", "s@example.com", "aud-1"):
            assert personal not in text, (row.action, personal)


@pytest.mark.parametrize("path", ["/api-keys", "/users", "/audit-log"])
def test_staff_routes_need_the_users_role(api, org, session, path):
    problem(api.as_(make_key(session, org, ["members:read", "members:write"])).get(path), 403, "role")


def test_audit_log_is_per_organisation(api, org, session, other_org):
    from .conftest import CommittingApi

    CommittingApi(api.client, other_org).post("/members", json={})
    api.post("/members", json={})
    log = api.get("/audit-log?limit=100").json["results"]
    assert [e["action"] for e in log].count("member.created") == 1  # ours; the other organisation's is not listed
    assert all(int(e["targetId"]) for e in log if e["targetType"] == "member")
    stored = session.scalars(select(AuditEntry.organization_id).where(
        AuditEntry.id.in_([e["id"] for e in log]))).all()
    assert set(stored) == {org.id}


def test_a_staff_email_used_in_another_organisation_is_free_here(api, session):
    make_staff(session, make_org(session, name="Elsewhere"), email="shared@example.com")
    body = {"email": "Shared@example.com", "password": "correct-horse-9", "roles": ["members:read"]}
    r = api.post("/users", json=body)
    assert r.status_code == 201  # nothing tells that the address is used elsewhere
    assert [u["email"] for u in api.get("/users").json["results"]] == ["shared@example.com"]
    problem(api.post("/users", json=body), 409, "email")
