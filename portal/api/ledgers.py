"""Ledgers, accounts, transactions, sets, batches, reverts and captures."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain import audit, ledger, points
from ..domain.errors import NotFound, ValidationFailed
from ..domain.ledger import LedgerAccount, LedgerTransaction, Reason
from ..domain.pagination import parse_order
from .core import Call, endpoint, in_organization, ok, page_response, plain_page
from .schemas import ledgers as s
from .schemas.common import IdOrderQuery, json_time

ORG = "/organizations/<int:organizationId>"
LEDGER = f"{ORG}/ledgers/<int:ledgerId>"
ACCOUNT = f"{LEDGER}/accounts/<int:ledgerAccountId>"
TX_ORDER = {"createdAt": LedgerTransaction.created_at, "id": LedgerTransaction.id,
            "externalEventDate": LedgerTransaction.external_event_date, "amount": LedgerTransaction.amount}


def transaction_out(session: Session, tx: LedgerTransaction) -> dict:
    return transactions_out(session, [tx])[0]


def transactions_out(session: Session, txs: list[LedgerTransaction]) -> list[dict]:
    """The transactions as the API shows them (`TransactionOut`'s JSON, see `transaction_json`): their wallets'
    members and their states read for all at once (nothing read for those this request posted)."""
    if not txs:
        return []
    owners = ledger.wallet_owners(session, (w for tx in txs for w in (tx.from_wallet_id, tx.to_wallet_id)))
    states = ledger.transaction_states(session, txs)
    return [transaction_json(tx, next((owners[w] for w in (tx.to_wallet_id, tx.from_wallet_id)
                                       if owners.get(w) is not None), None), states[tx.id]) for tx in txs]


def transaction_json(tx, member_id: int | None, state: str) -> dict:
    """A transaction (a `LedgerTransaction` or a row with its columns) as `TransactionOut` dumps it, written
    directly: no model per transaction on the hot writes and lists (the routes' `response` models still document
    it; test_every_kind_of_transaction_answers_as_its_model_dumps checks each answer is what its model makes of
    it, unchanged)."""
    return {"id": tx.id, "ledgerTransactionId": tx.id, "ledgerId": tx.ledger_id,
            "ledgerAccountId": tx.ledger_account_id, "type": tx.type, "status": state, "amount": tx.amount,
            "fromWalletId": tx.from_wallet_id, "toWalletId": tx.to_wallet_id, "memberId": member_id,
            "pendingCaptureLedgerTransactionId": tx.pending_id, "revertsLedgerTransactionId": tx.reverts_id,
            "atomicSetId": tx.set_id, "systemUniqueKey": tx.system_unique_key, "externalId": tx.external_id,
            "externalEventDate": json_time(tx.external_event_date), "description": tx.description,
            "tags": tx.tags or [], "actor": {"kind": tx.actor_kind, "id": tx.actor_id, "label": tx.actor_label},
            "createdAt": json_time(tx.created_at)}


def _ledger_out(session: Session, book: ledger.Ledger) -> s.LedgerOut:
    default = session.scalar(select(LedgerAccount.id).where(LedgerAccount.ledger_id == book.id)
                             .order_by(LedgerAccount.is_default.desc(), LedgerAccount.id))
    return s.LedgerOut(id=book.id, name=book.name, description=book.description, default_account_id=default,
                       created_at=book.created_at)


def _account_out(session: Session, a: LedgerAccount) -> s.AccountOut:
    totals = ledger.totals(session, a.id)
    return s.AccountOut(id=a.id, ledger_id=a.ledger_id, name=a.name, active=a.active, is_currency=a.is_currency,
                        decimals=a.decimals, format_string=a.format_string, max_supply=a.max_supply,
                        expires_in_months=a.expires_in_months, is_default_account=a.is_default,
                        minted=totals["minted"], burned=totals["burned"], circulating=totals["circulating"],
                        created_at=a.created_at)


def reason_of(body) -> Reason:
    """The why of a movement (description, tags, external ids, key) from a request body that carries it."""
    return Reason(description=body.description, tags=body.tags, external_id=body.external_id,
                  external_event_date=body.external_event_date, system_unique_key=body.system_unique_key)


def _request(item, ledger_id: int | None = None, account_id: int | None = None) -> points.TransferRequest:
    return points.TransferRequest(
        amount=item.amount, ledger_account_id=account_id or getattr(item, "ledger_account_id", None),
        from_wallet_id=item.from_wallet_id, to_wallet_id=item.to_wallet_id, capture_method=item.capture_method,
        reason=reason_of(item), ledger_id=ledger_id or getattr(item, "ledger_id", None),
        atomic_set_id=getattr(item, "atomic_set_id", None))


def _transactions(call: Call, movement: points.Movement, status: int = 201):
    return ok({"transactions": transactions_out(call.session, movement.transactions)}, status,
              replayed=movement.replayed)


@endpoint(f"{ORG}/ledgers", role="ledgers:read", query=IdOrderQuery, response=s.LedgerPage, tag="Ledgers",
          summary="List ledgers")
def list_ledgers(call: Call):
    stmt = in_organization(call, ledger.Ledger)
    return page_response(call, stmt, s.LedgerPage, lambda b: _ledger_out(call.session, b),
                         orders={"createdAt": ledger.Ledger.created_at, "id": ledger.Ledger.id}, default="id,asc")


@endpoint(f"{ORG}/ledgers", "POST", role="ledgers:write", body=s.LedgerIn, response=s.LedgerEnvelope, status=201,
          tag="Ledgers", summary="Create a ledger")
def create_ledger(call: Call):
    book = ledger.create_ledger(call.session, call.organization_id, name=call.body.name,
                                description=call.body.description)
    audit.record(call.session, call.actor, "ledger.created", book)
    return ok(s.LedgerEnvelope(ledger=_ledger_out(call.session, book)).dump(), 201)


@endpoint(LEDGER, role="ledgers:read", response=s.LedgerEnvelope, tag="Ledgers", summary="Get a ledger")
def get_ledger(call: Call, ledgerId: int):
    book = ledger.get_ledger(call.session, call.organization_id, ledgerId)
    return ok(s.LedgerEnvelope(ledger=_ledger_out(call.session, book)).dump())


@endpoint(f"{LEDGER}/accounts", role="ledgers:read", query=IdOrderQuery, response=s.AccountPage, tag="Ledgers",
          summary="List a ledger's accounts with minted, burned and circulating totals")
def list_accounts(call: Call, ledgerId: int):
    ledger.get_ledger(call.session, call.organization_id, ledgerId)
    stmt = select(LedgerAccount).where(LedgerAccount.ledger_id == ledgerId)
    return page_response(call, stmt, s.AccountPage, lambda a: _account_out(call.session, a),
                         orders={"createdAt": LedgerAccount.created_at, "id": LedgerAccount.id}, default="id,asc")


@endpoint(f"{LEDGER}/accounts", "POST", role="ledgers:write", body=s.AccountIn, response=s.AccountEnvelope,
          status=201, tag="Ledgers", summary="Create a points or currency account")
def create_account(call: Call, ledgerId: int):
    book = ledger.get_ledger(call.session, call.organization_id, ledgerId)
    b: s.AccountIn = call.body
    account = ledger.create_account(call.session, book, name=b.name, is_currency=b.is_currency, decimals=b.decimals,
                                    format_string=b.format_string, max_supply=b.max_supply,
                                    expires_in_months=b.expires_in_months, active=b.active,
                                    is_default=b.is_default_account)
    audit.record(call.session, call.actor, "ledger_account.created", account)
    return ok(s.AccountEnvelope(ledger_account=_account_out(call.session, account)).dump(), 201)


@endpoint(ACCOUNT, role="ledgers:read", response=s.AccountEnvelope, tag="Ledgers", summary="Get an account")
def get_account(call: Call, ledgerId: int, ledgerAccountId: int):
    account = ledger.get_account(call.session, call.organization_id, ledgerAccountId, ledgerId)
    return ok(s.AccountEnvelope(ledger_account=_account_out(call.session, account)).dump())


# An account holds millions of transactions: a full page counts the matches only up to this many. Lower than the
# members' cap: a page of an account's transactions is read many times more often than a member list, and the count
# of a full page reads up to this many index entries (at 10,000 that was more than the page and bare's whole request).
TRANSACTION_COUNT_CAP = 1_000


@endpoint(f"{ACCOUNT}/transactions", role="ledgers:read", query=s.TransactionListQuery,
          response=s.TransactionPage, tag="Ledgers", summary="An account's transactions, filtered", description=(
              f"`totalCount` is the number of matching transactions, exact up to {TRANSACTION_COUNT_CAP:,}; a "
              f"larger set answers {TRANSACTION_COUNT_CAP:,}, which means \"at least {TRANSACTION_COUNT_CAP:,}\": "
              "page on while pages come back full. A page that is not full (and not past the end) always tells the "
              "exact total: the rows before it and its own."))
def list_transactions(call: Call, ledgerId: int, ledgerAccountId: int):
    q: s.TransactionListQuery = call.query
    # One statement: the account checked, the page's keys picked first (the account's indexes hold them), their
    # rows with their wallets' members and states, and the count (capped; not taken again for filters already
    # seen to reach the cap).
    listed = ledger.transaction_page(call.session, call.organization_id, ledgerId, ledgerAccountId,
                                     page=q.page, limit=q.limit, order=parse_order(q.order, _TX_COLUMNS, "id,desc"),
                                     count_cap=TRANSACTION_COUNT_CAP, wallet_id=q.wallet_id,
                                     system_unique_key=q.system_unique_key, since=q.from_external_event_date,
                                     until=q.to_external_event_date, from_id=q.from_ledger_transaction_id,
                                     to_id=q.to_ledger_transaction_id, type=q.type)
    return ok(plain_page(listed, _listed_out(listed.items)))


_TX_COLUMNS = {name: LedgerTransaction.__table__.c[column.key] for name, column in TX_ORDER.items()}


def _listed_out(rows) -> list[dict]:
    """The listed rows (`ledger.listed_transactions`' columns) as the API shows transactions (`transaction_json`)."""
    return [transaction_json(tx, tx.to_member_id if tx.to_member_id is not None else tx.from_member_id,
                             ledger.state_of(tx.status, tx.resolution, bool(tx.reverted))) for tx in rows]


@endpoint(f"{ACCOUNT}/transactions", "POST", role="ledgers:write", body=s.TransactionIn,
          response=s.TransactionsOut, status=201, tag="Ledgers", idempotent=True,
          summary="Mint (no fromWalletId), burn (no toWalletId) or transfer; manual capture holds it pending")
def post_transaction(call: Call, ledgerId: int, ledgerAccountId: int):
    movement = points.post_transaction(call.session, call.organization_id,
                                       _request(call.body, ledgerId, ledgerAccountId), actor=call.actor)
    return _transactions(call, movement)


@endpoint(f"{LEDGER}/transaction-sets", "POST", role="ledgers:write", body=s.TransactionSetIn,
          response=s.TransactionsOut, status=201, tag="Ledgers", idempotent=True,
          summary="Several movements across accounts, all or nothing")
def post_transaction_set(call: Call, ledgerId: int):
    movement = points.post_transaction_set(call.session, call.organization_id, ledgerId,
                                           [_request(item, ledgerId) for item in call.body.transactions],
                                           actor=call.actor, system_unique_key=call.body.system_unique_key)
    return _transactions(call, movement)


@endpoint(f"{ORG}/ledger-transactions/batch", "POST", role="ledgers:write", body=s.BatchIn, response=s.BatchOut,
          tag="Ledgers", summary="Many independent movements; items sharing atomicSetId succeed or fail together")
def post_batch(call: Call):
    for index, item in enumerate(call.body.items):
        if item.organization_id is not None and item.organization_id != call.organization_id:
            raise ValidationFailed("organizationId must be the organisation in the path",
                                   field=f"items[{index}].organizationId")
    processed, failed = points.post_batch(call.session, call.organization_id,
                                          [_request(item) for item in call.body.items], actor=call.actor)
    # The answer as `BatchOut` dumps it, written directly (each failure is already `BatchFailure`'s shape).
    return ok({"processed": transactions_out(call.session, processed), "failed": failed})


@endpoint(f"{ACCOUNT}/transactions/<int:ledgerTransactionId>/revert", "POST", role="ledgers:write",
          body=s.RevertIn, response=s.TransactionsOut, status=201, tag="Ledgers", idempotent=True,
          summary="Undo a transaction with a reversing one (a pending one is voided)")
def revert_transaction(call: Call, ledgerId: int, ledgerAccountId: int, ledgerTransactionId: int):
    ledger.get_account(call.session, call.organization_id, ledgerAccountId, ledgerId)
    tx = ledger.get_transaction(call.session, call.organization_id, ledgerTransactionId, ledgerAccountId)
    movement = points.revert_transaction(call.session, call.organization_id, tx, actor=call.actor,
                                         reason=reason_of(call.body))
    return _transactions(call, movement)


@endpoint(f"{ACCOUNT}/capture", "POST", role="ledgers:write", body=s.CaptureIn, response=s.TransactionsOut,
          status=201, tag="Ledgers", summary="Capture pending transactions, fully or partly; all or nothing")
def capture(call: Call, ledgerId: int, ledgerAccountId: int):
    account = ledger.get_account(call.session, call.organization_id, ledgerAccountId, ledgerId)
    captures = []
    for index, item in enumerate(call.body.transactions):
        try:
            captures.append((int(item.ledger_transaction_id), item.capture_amount))
        except ValueError:
            raise NotFound("Ledger transaction not found",
                           field=f"transactions[{index}].ledgerTransactionId") from None
    done = points.capture_transactions(call.session, call.organization_id, account, captures, actor=call.actor)
    return _transactions(call, points.Movement(done))
