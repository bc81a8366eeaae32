"""Mint and burn by loyaltyMemberId: balances, 409s, idempotent replays."""
from __future__ import annotations

from .conftest import problem, row_counts


def mint_url(member, kind="mint"):
    return f"/loyalty-members/{member['loyaltyMemberId']}/{kind}"


def balance(api, member, index=0):
    return api.get(f"/members/{member['id']}/wallet").json["balances"][index]["balance"]


def test_mint_and_burn_move_points(api, member, org):
    r = api.post(mint_url(member), json={"amount": 70, "systemUniqueKey": "pos-1", "description": "purchase",
                                         "tags": ["store-7"], "externalId": "rcpt-1",
                                         "externalEventDate": "2026-11-23T10:00:00+01:00"})
    assert r.status_code == 201, r.json
    tx = r.json["transaction"]
    assert (tx["type"], tx["status"], tx["amount"], tx["memberId"]) == ("mint", "posted", 70, member["id"])
    assert tx["ledgerAccountId"] == org.program.points_account_id
    assert (tx["systemUniqueKey"], tx["description"], tx["tags"], tx["externalId"]) == (
        "pos-1", "purchase", ["store-7"], "rcpt-1")
    assert tx["externalEventDate"] == "2026-11-23T09:00:00Z"
    assert tx["actor"]["kind"] == "api_key" and tx["createdAt"].endswith("Z")
    assert r.headers.get("Idempotent-Replayed") is None
    r = api.post(mint_url(member, "burn"), json={"amount": 25, "systemUniqueKey": "pos-2"})
    assert r.status_code == 201 and r.json["transaction"]["type"] == "burn"
    assert balance(api, member) == 45


def test_burn_beyond_the_balance_is_a_clean_409(api, funded, session):
    member, _ = funded
    before = row_counts(session)
    body = problem(api.post(mint_url(member, "burn"), json={"amount": 101, "systemUniqueKey": "too-much"}), 409,
                   "amount")
    assert body["type"].endswith("insufficient-balance")
    assert row_counts(session) == before
    assert balance(api, member) == 100
    # The refused key was not used up.
    assert api.post(mint_url(member, "burn"), json={"amount": 100, "systemUniqueKey": "too-much"}).status_code == 201
    assert balance(api, member) == 0


def test_a_retry_gets_the_same_response_and_moves_nothing(api, member, session):
    body = {"amount": 30, "systemUniqueKey": "retry-1", "description": "coffee"}
    first = api.post(mint_url(member), json=body)
    before = row_counts(session)
    again = api.post(mint_url(member), json=body)
    assert again.status_code == first.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert row_counts(session) == before
    assert balance(api, member) == 30


def test_the_same_key_with_another_body_is_refused(api, funded, session):
    member, _ = funded
    api.post(mint_url(member, "burn"), json={"amount": 10, "systemUniqueKey": "k-1"})
    before = row_counts(session)
    for other in ({"amount": 11, "systemUniqueKey": "k-1"},
                  {"amount": 10, "systemUniqueKey": "k-1", "description": "changed"}):
        body = problem(api.post(mint_url(member, "burn"), json=other), 409, "systemUniqueKey")
        assert body["type"].endswith("idempotency-key-reused")
    problem(api.post(mint_url(member), json={"amount": 10, "systemUniqueKey": "k-1"}), 409, "systemUniqueKey")
    assert row_counts(session) == before
    assert balance(api, member) == 90


def test_keys_are_separate_per_organisation(api, member, session, other_org):
    from .conftest import CommittingApi

    other_api = CommittingApi(api.client, other_org)
    stranger = other_api.post("/members", json={}).json["member"]
    assert api.post(mint_url(member), json={"amount": 5, "systemUniqueKey": "same"}).status_code == 201
    r = other_api.post(mint_url(stranger), json={"amount": 7, "systemUniqueKey": "same"})
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert balance(other_api, stranger) == 7


def test_mint_into_the_tier_points_account_promotes(api, member, org):
    tiers = [api.post(f"/loyalty-programs/{org.program.id}/tiers", json={"name": n, "minPoints": p}).json
             for n, p in (("Silver", 500), ("Gold", 1500))]
    r = api.post(mint_url(member), json={"amount": 600, "ledgerAccountId": org.program.tier_points_account_id})
    assert r.status_code == 201
    [tier] = api.get(f"/members/{member['id']}").json["member"]["tiers"]
    assert (tier["loyaltyTierId"], tier["name"], tier["source"]) == (tiers[0]["loyaltyTier"]["id"], "Silver", "auto")
    assert balance(api, member, 0) == 0 and balance(api, member, 1) == 600


def test_mint_names_an_unknown_account(api, member, session, other_org):
    problem(api.post(mint_url(member), json={"amount": 5, "ledgerAccountId": 999_999}), 404, "ledgerAccountId")
    problem(api.post(mint_url(member), json={"amount": 5, "ledgerAccountId": other_org.points_account_id}), 404,
            "ledgerAccountId")
    problem(api.post(mint_url(member), json={"amount": 5, "ledgerId": 999_999}), 404, "ledgerId")
    problem(api.post("/loyalty-members/nobody/mint", json={"amount": 5}), 404, "loyaltyMemberId")


def test_an_api_mint_or_burn_reads_its_member_with_the_default_account_in_one_statement(api, engine, member):
    """The member by loyaltyMemberId, the default programme's account, the member's and system wallets and whether
    the member owes points: one statement; then the key, the transaction, the balance, the issuance (burned) shard,
    the entries, the outbox event and the audit entry (9 before the member came with the account)."""
    from portal.extensions import db

    from ..statements import counted

    api.post(mint_url(member), json={"amount": 20})  # the key is known to this process, the wallet exists
    for kind in ("mint", "burn"):
        db.session.expunge_all()  # a request starts with nothing in the identity map
        with counted(engine) as sent:
            r = api.post(mint_url(member, kind), json={"amount": 5, "systemUniqueKey": f"budget-{kind}"})
        assert r.status_code == 201, r.json
        assert len(sent) == 8, str(sent)
        assert sent[0].startswith("SELECT members.id") and "ledger_accounts" in sent[0]
    assert balance(api, member) == 20


def test_an_api_mint_to_a_member_who_owes_settles_the_debt(api, member, session, org):
    """The debt check comes with the member's read (no open debt: nothing more asked); one open: it is paid."""
    from portal.domain import orders

    api.post(mint_url(member), json={"amount": 10})
    session.add(orders.PointsDebt(organization_id=org.id, member_id=member["id"],
                                  ledger_account_id=org.program.points_account_id, amount=30))
    session.commit()
    r = api.post(mint_url(member), json={"amount": 25, "systemUniqueKey": "owes-1"})
    assert r.status_code == 201 and r.json["transaction"]["amount"] == 25
    assert balance(api, member) == 10 + 25 - 30
    again = api.post(mint_url(member), json={"amount": 25, "systemUniqueKey": "owes-1"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == r.json
    assert balance(api, member) == 5
