"""Ledgers, accounts, transactions, sets, batches, reverts and captures through the API."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.domain.audit import AuditEntry
from portal.domain.outbox import OutboxEvent

from .conftest import CommittingApi, problem, row_counts


@pytest.fixture
def book(api, org):
    """The default programme's ledger and points account, and two members with wallets (100 and 0 points)."""
    ledger_id, account_id = org.program.ledger_id, org.program.points_account_id
    wallets, owners = [], {}
    for index, amount in enumerate((100, 1)):
        member = api.post("/members", json={"profile": {"email": f"w{index}@example.com"}}).json["member"]
        r = api.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint", json={"amount": amount})
        wallets.append(r.json["transaction"]["toWalletId"])
        owners[wallets[-1]] = member["id"]
    # The second wallet starts empty.
    r = api.post(f"/ledgers/{ledger_id}/accounts/{account_id}/transactions", json={"amount": 1,
                                                                                  "fromWalletId": wallets[1]})
    assert r.status_code == 201, r.json
    base = f"/ledgers/{ledger_id}/accounts/{account_id}"
    return {"ledger": ledger_id, "account": account_id, "a": wallets[0], "b": wallets[1], "base": base,
            "members": owners}


def wallet_balance(api, wallet_id, book) -> int:
    member_id = book["members"][wallet_id]
    [main] = [b for b in api.get(f"/members/{member_id}/wallet").json["balances"] if b["walletId"] == wallet_id]
    return main["balance"]


def post(api, book, **body):
    return api.post(f"{book['base']}/transactions", json=body)


def totals(api, book):
    account = api.get(book["base"]).json["ledgerAccount"]
    return account["minted"], account["burned"], account["circulating"]


# --- ledgers and accounts ------------------------------------------------------------------------

def test_ledgers_and_accounts(api, org, session):
    r = api.get("/ledgers")
    assert r.status_code == 200 and r.json["totalCount"] == 1
    assert r.json["results"][0]["id"] == org.program.ledger_id
    assert r.json["results"][0]["defaultAccountId"] == org.program.points_account_id
    r = api.post("/ledgers", json={"name": "Partner miles", "description": "coalition"})
    assert r.status_code == 201
    created = r.json["ledger"]
    assert (created["name"], created["description"], created["defaultAccountId"]) == ("Partner miles", "coalition",
                                                                                     None)
    assert api.get(f"/ledgers/{created['id']}").json["ledger"]["name"] == "Partner miles"
    r = api.post(f"/ledgers/{created['id']}/accounts", json={"name": "Miles", "maxSupply": 1000,
                                                              "isDefaultAccount": True, "expiresInMonths": 24})
    assert r.status_code == 201
    account = r.json["ledgerAccount"]
    assert (account["maxSupply"], account["isDefaultAccount"], account["expiresInMonths"]) == (1000, True, 24)
    assert (account["minted"], account["burned"], account["circulating"]) == (0, 0, 0)
    r = api.get(f"/ledgers/{created['id']}/accounts")
    assert [a["id"] for a in r.json["results"]] == [account["id"]]
    assert api.get(f"/ledgers/{created['id']}").json["ledger"]["defaultAccountId"] == account["id"]
    assert api.get("/ledgers?order=id,desc").json["results"][0]["id"] == created["id"]
    actions = [e["action"] for e in api.get("/audit-log").json["results"]]
    assert "ledger.created" in actions and "ledger_account.created" in actions


def test_max_supply_through_the_api(api, book, session):
    account = api.post(f"/ledgers/{book['ledger']}/accounts", json={"name": "Capped", "maxSupply": 50}).json
    base = f"/ledgers/{book['ledger']}/accounts/{account['ledgerAccount']['id']}"
    member = api.post("/members", json={}).json["member"]
    r = api.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint",
                 json={"amount": 50, "ledgerAccountId": account["ledgerAccount"]["id"]})
    assert r.status_code == 201
    body = problem(api.post(f"{base}/transactions", json={"amount": 1, "toWalletId": r.json["transaction"][
        "toWalletId"]}), 409, "amount")
    assert body["type"].endswith("max-supply-exceeded")


# --- transactions ------------------------------------------------------------------------------

def test_mint_burn_and_transfer_by_wallet(api, book):
    r = post(api, book, amount=10, toWalletId=book["b"], description="gift")
    assert r.status_code == 201 and r.json["transactions"][0]["type"] == "mint"
    r = post(api, book, amount=4, fromWalletId=book["b"])
    assert r.json["transactions"][0]["type"] == "burn"
    r = post(api, book, amount=30, fromWalletId=book["a"], toWalletId=book["b"])
    tx = r.json["transactions"][0]
    assert (tx["type"], tx["fromWalletId"], tx["toWalletId"], tx["status"]) == ("transfer", book["a"], book["b"],
                                                                                "posted")
    assert wallet_balance(api, book["a"], book) == 70 and wallet_balance(api, book["b"], book) == 36
    assert totals(api, book) == (111, 5, 106)
    problem(post(api, book, amount=37, fromWalletId=book["b"], toWalletId=book["a"]), 409, "amount")
    problem(post(api, book, amount=1), 422, "toWalletId")
    problem(post(api, book, amount=1, fromWalletId=book["a"], toWalletId=book["a"]), 422, "toWalletId")


def test_manual_capture_full_and_partial(api, book):
    hold = post(api, book, amount=40, fromWalletId=book["a"], toWalletId=book["b"], captureMethod="manual")
    assert hold.status_code == 201
    pending = hold.json["transactions"][0]
    assert pending["status"] == "pending"
    second = post(api, book, amount=20, fromWalletId=book["a"], captureMethod="manual").json["transactions"][0]
    r = api.post(f"{book['base']}/capture", json={"transactions": [
        {"ledgerTransactionId": pending["id"], "captureAmount": 25}, {"ledgerTransactionId": str(second["id"])}]})
    assert r.status_code == 201, r.json
    captures = r.json["transactions"]
    assert [(c["type"], c["amount"], c["pendingCaptureLedgerTransactionId"]) for c in captures] == [
        ("capture", 25, pending["id"]), ("capture", 20, second["id"])]
    wallet = api.get(f"{book['base']}/transactions?type=capture").json
    assert wallet["totalCount"] == 2
    states = {t["id"]: t["status"] for t in api.get(f"{book['base']}/transactions?limit=100").json["results"]}
    assert states[pending["id"]] == "captured" and states[second["id"]] == "captured"
    assert totals(api, book) == (101, 21, 80)
    # A capture happens at most once, and a bad item stops the whole request.
    problem(api.post(f"{book['base']}/capture", json={"transactions": [{"ledgerTransactionId": pending["id"]}]}),
            409, "transactions[0].ledgerTransactionId")
    third = post(api, book, amount=5, fromWalletId=book["a"], captureMethod="manual").json["transactions"][0]
    problem(api.post(f"{book['base']}/capture", json={"transactions": [
        {"ledgerTransactionId": third["id"]}, {"ledgerTransactionId": "nope"}]}), 404,
        "transactions[1].ledgerTransactionId")
    problem(api.post(f"{book['base']}/capture", json={"transactions": [
        {"ledgerTransactionId": third["id"], "captureAmount": 6}]}), 422, "transactions[0].captureAmount")
    states = {t["id"]: t["status"] for t in api.get(f"{book['base']}/transactions?limit=100").json["results"]}
    assert states[third["id"]] == "pending"


def test_revert(api, book, session):
    mint = post(api, book, amount=10, toWalletId=book["b"]).json["transactions"][0]
    r = api.post(f"{book['base']}/transactions/{mint['id']}/revert", json={"description": "mistake"})
    assert r.status_code == 201
    undo = r.json["transactions"][0]
    assert (undo["type"], undo["revertsLedgerTransactionId"], undo["description"]) == ("revert", mint["id"], "mistake")
    assert (undo["fromWalletId"], undo["toWalletId"]) == (mint["toWalletId"], mint["fromWalletId"])
    listed = {t["id"]: t["status"] for t in api.get(f"{book['base']}/transactions").json["results"]}
    assert listed[mint["id"]] == "reverted"
    twice = problem(api.post(f"{book['base']}/transactions/{mint['id']}/revert", json={}), 409, "ledgerTransactionId")
    assert twice["type"].endswith("/already-resolved")
    undo_undo = problem(api.post(f"{book['base']}/transactions/{undo['id']}/revert", json={}), 409,
                        "ledgerTransactionId")
    assert undo_undo["type"].endswith("/transaction-not-revertible") and undo_undo["title"] != "Conflict"
    spent = post(api, book, amount=10, toWalletId=book["b"]).json["transactions"][0]
    post(api, book, amount=5, fromWalletId=book["b"])
    before = row_counts(session)
    body = problem(api.post(f"{book['base']}/transactions/{spent['id']}/revert", json={}), 409, "amount")
    assert body["type"].endswith("insufficient-balance")
    assert row_counts(session) == before


def test_revert_is_idempotent_by_key(api, book):
    mint = post(api, book, amount=10, toWalletId=book["b"]).json["transactions"][0]
    url = f"{book['base']}/transactions/{mint['id']}/revert"
    first = api.post(url, json={"systemUniqueKey": "undo-1"})
    again = api.post(url, json={"systemUniqueKey": "undo-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json


def test_post_transaction_replays_and_refuses_a_changed_body(api, book, session):
    body = {"amount": 3, "toWalletId": book["b"], "systemUniqueKey": "tx-1"}
    first = post(api, book, **body)
    before = row_counts(session)
    again = post(api, book, **body)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    problem(post(api, book, **{**body, "amount": 4}), 409, "systemUniqueKey")
    assert row_counts(session) == before


def test_transactions_list_filters(api, book):
    for n in range(3):
        post(api, book, amount=1 + n, toWalletId=book["b"], systemUniqueKey=f"f-{n}",
             externalEventDate=f"2026-0{n + 1}-15T12:00:00Z")
    base = f"{book['base']}/transactions"
    assert [t["amount"] for t in api.get(f"{base}?systemUniqueKey=f-1").json["results"]] == [2]
    ranged = api.get(f"{base}?fromExternalEventDate=2026-02-01T00:00:00Z&toExternalEventDate=2026-03-31T00:00:00Z")
    assert sorted(t["amount"] for t in ranged.json["results"]) == [2, 3]
    on_b = api.get(f"{base}?walletId={book['b']}&limit=100").json
    assert all(book["b"] in (t["fromWalletId"], t["toWalletId"]) for t in on_b["results"])
    assert on_b["totalCount"] == 5  # mint 1, burn 1, three mints
    everything = api.get(f"{base}?limit=100").json
    assert everything["totalCount"] == 6
    assert [t["id"] for t in everything["results"]] == sorted((t["id"] for t in everything["results"]), reverse=True)
    ids = sorted(t["id"] for t in everything["results"])
    window = api.get(f"{base}?fromLedgerTransactionId={ids[1]}&toLedgerTransactionId={ids[2]}").json
    assert sorted(t["id"] for t in window["results"]) == ids[1:3]
    page = api.get(f"{base}?limit=2&page=1&order=id,asc").json
    assert [t["id"] for t in page["results"]] == ids[2:4] and page["totalCount"] == 6
    assert api.get(f"{base}?type=burn").json["totalCount"] == 1
    problem(api.get(f"{base}?type=steal"), 422, "type")
    problem(api.get(f"{base}?fromExternalEventDate=2026-01-01"), 422, "fromExternalEventDate")


def test_a_full_page_counts_transactions_only_up_to_the_cap(api, book, monkeypatch):
    from portal.api import ledgers as ledgers_api

    assert ledgers_api.TRANSACTION_COUNT_CAP == 1_000  # documented in the OpenAPI description
    for n in range(5):
        post(api, book, amount=1, toWalletId=book["b"], systemUniqueKey=f"cap-{n}")
    base = f"{book['base']}/transactions"
    exact = len(api.get(f"{base}?limit=100").json["results"])  # the book's own three and these five
    assert exact == 8 and api.get(f"{base}?limit=2").json["totalCount"] == exact  # under the cap: counted

    def page(limit, number):
        body = api.get(f"{base}?limit={limit}&page={number}").json
        return body["totalCount"], len(body["results"])

    monkeypatch.setattr(ledgers_api, "TRANSACTION_COUNT_CAP", 3)
    assert page(2, 0) == (3, 2)  # a full page counts up to the cap: 3 means "at least 3"
    assert page(2, 2) == (3, 2)  # a full page past the cap answers the cap
    assert page(2, 3) == (3, 2)  # ... even the last one, full: a full page cannot tell it is the last
    assert page(3, 2) == (exact, 2)  # a page that is not full tells the exact total, past the cap too
    assert page(100, 0) == (exact, exact)
    assert page(5, 3) == (3, 0)  # past the end: counted, up to the cap
    monkeypatch.setattr(ledgers_api, "TRANSACTION_COUNT_CAP", 100)
    assert page(5, 3) == (exact, 0)
    assert page(4, 1) == (exact, 4)  # the last page, full: counted, exact under the cap
    monkeypatch.setattr(ledgers_api, "TRANSACTION_COUNT_CAP", 10)
    assert page(20, 3) == (exact, 0)  # an empty page whose offset is past the cap: counted, not taken for the cap
    assert page(2, 0) == (exact, 2)  # ... nor remembered as having reached it


def test_a_list_seen_to_reach_the_cap_is_not_counted_again(api, book, engine, monkeypatch):
    from portal.api import ledgers as ledgers_api

    from ..statements import counted

    monkeypatch.setattr(ledgers_api, "TRANSACTION_COUNT_CAP", 2)
    base = f"{book['base']}/transactions"

    def listed(query):
        with counted(engine) as statements:
            body = api.get(f"{base}?{query}").json
        [sql] = [s for s in statements if "listed_head" in s]
        return body["totalCount"], len(body["results"]), "count(" in sql.lower()

    assert listed("limit=1") == (2, 1, True)  # the book's three transactions: at least 2
    assert listed("limit=1&page=1") == (2, 1, False)  # seen to reach the cap: the same set is not counted again
    assert listed("limit=1") == (2, 1, False)  # ... its first page too, full and below the cap by itself
    assert listed("limit=4") == (3, 3, False)  # a page that is not full still tells the exact total
    assert listed("limit=1&type=burn") == (1, 1, True)  # other filters: another set, counted
    assert listed("limit=1&type=mint") == (2, 1, True)
    assert listed("limit=1&type=mint&page=5") == (2, 0, False)


def test_listed_transactions_are_what_posting_them_answered(api, book):
    """The list writes its rows' JSON itself (no model per row): the same as the model's, for every field."""
    posted = [post(api, book, amount=4, fromWalletId=book["a"], toWalletId=book["b"], tags=["x", "y"],
                   externalId="ext-1", externalEventDate="2026-02-03T04:05:06.789Z", description="moved",
                   systemUniqueKey="same-json").json["transactions"][0],
              post(api, book, amount=2, toWalletId=book["b"]).json["transactions"][0]]
    listed = api.get(f"{book['base']}/transactions?limit=2").json["results"]
    assert listed == posted[::-1] and listed[1]["externalEventDate"] == "2026-02-03T04:05:06.789000Z"


def test_transactions_list_orders_and_empty_sets(api, book):
    for n, amount in enumerate((7, 3, 9)):
        post(api, book, amount=amount, toWalletId=book["b"], externalEventDate=f"2026-0{3 - n}-15T12:00:00Z")
    base = f"{book['base']}/transactions"
    by_amount = api.get(f"{base}?order=amount,desc&limit=3").json
    assert [t["amount"] for t in by_amount["results"]] == [100, 9, 7] and by_amount["totalCount"] == 6
    assert [t["amount"] for t in api.get(f"{base}?order=amount,asc&limit=2&page=1").json["results"]] == [3, 7]
    dated = api.get(f"{base}?order=externalEventDate,asc&fromExternalEventDate=2026-01-01T00:00:00Z").json
    assert [t["amount"] for t in dated["results"]] == [9, 3, 7] and dated["totalCount"] == 3
    created = [t["id"] for t in api.get(f"{base}?order=createdAt,desc&limit=100").json["results"]]
    assert created == sorted(created, reverse=True)
    none = api.get(f"{base}?type=capture").json
    assert (none["totalCount"], none["results"], none["page"], none["limit"]) == (0, [], 0, 10)
    assert api.get(f"{base}?fromExternalEventDate=2030-01-01T00:00:00Z&page=2").json["totalCount"] == 0


def test_transactions_of_an_account_not_in_the_ledger_or_not_at_all_are_404(api, book, session):
    other = api.post("/ledgers", json={"name": "Partner miles"}).json["ledger"]["id"]
    for path in (f"/ledgers/{other}/accounts/{book['account']}", f"/ledgers/{book['ledger']}/accounts/999999",
                 f"/ledgers/{book['ledger']}/accounts/{2 ** 70}"):
        problem(api.get(f"{path}/transactions?limit=5"), 404, "ledgerAccountId")
    problem(api.get(f"/ledgers/{2 ** 70}/accounts/{book['account']}/transactions"), 404, "ledgerId")


# --- transaction sets and batches -----------------------------------------------------------------------

def _set_items(book, bad_index=None, bad_amount=10_000):
    items = []
    for index in range(10):
        amount = bad_amount if index == bad_index else 1
        items.append({"ledgerAccountId": book["account"], "amount": amount, "fromWalletId": book["a"],
                      "toWalletId": book["b"], "description": f"leg {index}"})
    return items


def test_transaction_set_all_legs(api, book):
    r = api.post(f"/ledgers/{book['ledger']}/transaction-sets", json={"transactions": _set_items(book)})
    assert r.status_code == 201, r.json
    legs = r.json["transactions"]
    assert len(legs) == 10 and len({t["atomicSetId"] for t in legs}) == 1 and legs[0]["atomicSetId"]
    assert wallet_balance(api, book["b"], book) == 10


@pytest.mark.parametrize("bad_amount, status", [(10_000, 409), (0, 422), ("1", 422)])
def test_transaction_set_with_item_7_invalid_writes_nothing(api, book, session, bad_amount, status):
    before = row_counts(session)
    r = api.post(f"/ledgers/{book['ledger']}/transaction-sets",
                 json={"transactions": _set_items(book, bad_index=6, bad_amount=bad_amount),
                       "systemUniqueKey": "set-x"})
    body = problem(r, status, "transactions[6].amount")
    assert list(body["errors"]) == ["transactions[6].amount"]
    assert row_counts(session) == before
    assert wallet_balance(api, book["b"], book) == 0


def test_transaction_set_replays_by_key(api, book):
    url = f"/ledgers/{book['ledger']}/transaction-sets"
    body = {"transactions": _set_items(book)[:2], "systemUniqueKey": "set-1"}
    first, again = api.post(url, json=body), api.post(url, json=body)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    assert wallet_balance(api, book["b"], book) == 2


def test_batch_with_atomic_sets(api, book):
    item = {"ledgerId": book["ledger"], "ledgerAccountId": book["account"]}
    items = [{**item, "amount": 5, "toWalletId": book["b"]},
             {**item, "amount": 999, "fromWalletId": book["b"]},
             {**item, "amount": 1, "fromWalletId": book["a"], "atomicSetId": 1},
             {**item, "amount": 999, "fromWalletId": book["a"], "atomicSetId": 1},
             {**item, "amount": 2, "fromWalletId": book["a"], "toWalletId": book["b"], "atomicSetId": "s"},
             {**item, "amount": 1, "fromWalletId": book["b"], "atomicSetId": "s", "organizationId": api.org.id}]
    r = api.post("/ledger-transactions/batch", json={"items": items})
    assert r.status_code == 200, r.json
    assert [t["amount"] for t in r.json["processed"]] == [5, 2, 1]
    assert sorted(f["index"] for f in r.json["failed"]) == [1, 2, 3]
    failure = {f["index"]: f for f in r.json["failed"]}
    assert failure[1]["status"] == 409 and "items[1].amount" in failure[1]["errors"]
    assert "items[3].amount" in failure[2]["errors"]
    assert wallet_balance(api, book["a"], book) == 98 and wallet_balance(api, book["b"], book) == 6


def test_a_batch_answers_what_the_list_shows_and_audits_and_emits_each_movement(api, book, session):
    """The batch writes its transactions as rows and its answer as JSON itself (no ORM object or model per item):
    the same JSON as the list's for every field, an audit entry naming each transaction and an event per mint or
    burn, as posting them one by one would."""
    item = {"ledgerId": book["ledger"], "ledgerAccountId": book["account"]}
    items = [{**item, "amount": 4, "toWalletId": book["b"], "tags": ["x", "y"], "externalId": "ext-1",
              "externalEventDate": "2026-02-03T04:05:06.789Z", "description": "given", "systemUniqueKey": "b-json"},
             {**item, "amount": 3, "fromWalletId": book["a"], "toWalletId": book["b"], "atomicSetId": "pair"},
             {**item, "amount": 2, "fromWalletId": book["a"], "atomicSetId": "pair"},
             {**item, "amount": 4, "toWalletId": book["b"], "tags": ["x", "y"], "externalId": "ext-1"}]
    before = row_counts(session)
    r = api.post("/ledger-transactions/batch", json={"items": items})
    assert r.status_code == 200 and r.json["failed"] == [], r.json
    processed = r.json["processed"]
    listed = api.get(f"{book['base']}/transactions?limit=4").json["results"]
    assert processed == listed[::-1]  # newest first there
    assert [t["type"] for t in processed] == ["mint", "transfer", "burn", "mint"]
    assert processed[0]["externalEventDate"] == "2026-02-03T04:05:06.789000Z" and processed[0]["memberId"]
    assert processed[1]["atomicSetId"] == processed[2]["atomicSetId"] is not None
    ids = [str(t["id"]) for t in processed]
    audited = session.execute(select(AuditEntry.action, AuditEntry.target_type, AuditEntry.target_id,
                                     AuditEntry.details).where(AuditEntry.target_id.in_(ids))
                              .order_by(AuditEntry.id)).all()
    assert [tuple(a) for a in audited] == [
        ("ledger.minted", "ledgertransaction", ids[0], {"amount": 4, "ledgerAccountId": book["account"]}),
        ("ledger.transferred", "ledgertransaction", ids[1], {"amount": 3, "ledgerAccountId": book["account"]}),
        ("ledger.burned", "ledgertransaction", ids[2], {"amount": 2, "ledgerAccountId": book["account"]}),
        ("ledger.minted", "ledgertransaction", ids[3], {"amount": 4, "ledgerAccountId": book["account"]})]
    events = session.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "ledger-transaction-created")
                             .order_by(OutboxEvent.id.desc()).limit(3)).all()[::-1]
    assert [(e.member_id, e.payload) for e in events] == [
        (book["members"][book["b"]], {"ledgerTransactionId": processed[0]["id"], "type": "mint", "amount": 4}),
        (book["members"][book["a"]], {"ledgerTransactionId": processed[2]["id"], "type": "burn", "amount": 2}),
        (book["members"][book["b"]], {"ledgerTransactionId": processed[3]["id"], "type": "mint", "amount": 4})]
    after = row_counts(session)
    assert (after["audit"] - before["audit"], after["events"] - before["events"]) == (4, 3)


def test_batch_refuses_another_organisation_id(api, book, session, other_org):
    before = row_counts(session)
    problem(api.post("/ledger-transactions/batch", json={"items": [
        {"ledgerId": book["ledger"], "ledgerAccountId": book["account"], "amount": 1, "toWalletId": book["b"],
         "organizationId": other_org.id}]}), 422, "items[0].organizationId")
    assert row_counts(session) == before


def test_wallets_and_transactions_of_another_organisation_are_404(api, book, session, other_org):
    other_api = CommittingApi(api.client, other_org)
    member = other_api.post("/members", json={}).json["member"]
    foreign = other_api.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint", json={"amount": 5}).json[
        "transaction"]
    before = row_counts(session)
    problem(post(api, book, amount=1, fromWalletId=foreign["toWalletId"]), 404, "fromWalletId")
    problem(post(api, book, amount=1, toWalletId=foreign["toWalletId"]), 404, "toWalletId")
    problem(api.post(f"{book['base']}/transactions/{foreign['id']}/revert", json={}), 404, "ledgerTransactionId")
    problem(api.post(f"{book['base']}/capture", json={"transactions": [{"ledgerTransactionId": foreign["id"]}]}),
            404, "transactions[0].ledgerTransactionId")
    foreign_base = f"/ledgers/{foreign['ledgerId']}/accounts/{foreign['ledgerAccountId']}"
    problem(api.get(f"{foreign_base}/transactions"), 404, "ledgerAccountId")
    problem(api.get(f"/ledgers/{foreign['ledgerId']}"), 404, "ledgerId")
    assert row_counts(session) == before


def test_every_kind_of_transaction_answers_as_its_model_dumps(api, book):
    """The transactions' answers are written as dicts (`transaction_json`, no model per row): each answer must be
    what its documented model makes of it, unchanged, for every kind of transaction (mint, burn, transfer,
    pending, capture, void, revert, a set's legs), in the post's, the API mint's, the batch's and the list's."""
    from portal.api.schemas import ledgers as s
    from portal.api.schemas import members as member_schemas

    def same(model, body):
        assert model.model_validate(body).dump() == body
        return body

    def posted(**body):
        r = post(api, book, **body)
        assert r.status_code == 201, r.json
        return same(s.TransactionsOut, r.json)["transactions"]

    kinds = posted(amount=4, toWalletId=book["b"], tags=["x", "y"], externalId="ext-1", description="given",
                   externalEventDate="2026-02-03T04:05:06.789+02:00", systemUniqueKey="json-mint")
    kinds += posted(amount=3, fromWalletId=book["a"])
    kinds += posted(amount=2, fromWalletId=book["a"], toWalletId=book["b"])
    held = posted(amount=5, fromWalletId=book["a"], captureMethod="manual")[0]
    voided = posted(amount=1, fromWalletId=book["a"], captureMethod="manual")[0]
    r = api.post(f"{book['base']}/capture", json={"transactions": [{"ledgerTransactionId": held["id"]}]})
    kinds += [held, voided] + same(s.TransactionsOut, r.json)["transactions"]
    for undone in (voided, kinds[0]):
        r = api.post(f"{book['base']}/transactions/{undone['id']}/revert", json={"description": "undo"})
        assert r.status_code == 201, r.json
        kinds += same(s.TransactionsOut, r.json)["transactions"]
    r = api.post(f"/ledgers/{book['ledger']}/transaction-sets", json={"transactions": _set_items(book)[:2]})
    kinds += same(s.TransactionsOut, r.json)["transactions"]
    member_id = book["members"][book["b"]]
    loyalty_id = api.get(f"/members/{member_id}").json["member"]["loyaltyMemberId"]
    r = api.post(f"/loyalty-members/{loyalty_id}/mint",
                 json={"amount": 6, "externalEventDate": "2026-11-23T10:00:00+01:00"})
    assert r.status_code == 201, r.json
    kinds.append(same(member_schemas.TransactionEnvelope, r.json)["transaction"])
    item = {"ledgerId": book["ledger"], "ledgerAccountId": book["account"]}
    r = api.post("/ledger-transactions/batch", json={"items": [
        {**item, "amount": 2, "toWalletId": book["b"], "tags": ["z"]},
        {**item, "amount": 999, "fromWalletId": book["b"]},
        {**item, "amount": 1, "fromWalletId": book["a"], "toWalletId": book["b"], "atomicSetId": "pair"}]})
    assert r.status_code == 200 and len(r.json["failed"]) == 1, r.json
    kinds += same(s.BatchOut, r.json)["processed"]
    listed = same(s.TransactionPage, api.get(f"{book['base']}/transactions?limit=100").json)["results"]
    assert {t["id"] for t in kinds} <= {t["id"] for t in listed}
    assert {(t["type"], t["status"]) for t in listed} >= {
        ("mint", "posted"), ("mint", "reverted"), ("burn", "posted"), ("transfer", "posted"), ("capture", "posted"),
        ("revert", "posted"), ("burn", "captured"), ("burn", "voided"), ("void", "posted")}, listed
