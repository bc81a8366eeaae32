"""Points use cases: what the API, the console and the portal ask the ledger to do.

Each function resolves accounts and wallets inside the organisation, runs the
ledger movement once per `systemUniqueKey`, audits it, and returns a Movement.
A failure anywhere raises; the caller's transaction then rolls back whole.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, idempotency, ledger
from .actors import Actor
from .errors import DomainError, NotFound, ValidationFailed
from .ledger import LedgerAccount, LedgerTransaction, Reason, Wallet
from .members import Member
from .organizations import LoyaltyProgram, default_program


@dataclass
class Movement:
    transactions: list[LedgerTransaction]
    replayed: bool = False


@dataclass
class TransferRequest:
    """One leg of a transfer, a set or a batch; no source means mint, no destination burn."""

    amount: Any
    ledger_account_id: int | None = None
    from_wallet_id: int | None = None
    to_wallet_id: int | None = None
    capture_method: str = "auto"
    reason: Reason = field(default_factory=Reason)
    ledger_id: int | None = None
    atomic_set_id: Any = None


def resolve_account(session: Session, organization_id: int, ledger_id: int | None = None,
                    account_id: int | None = None) -> LedgerAccount:
    """The named account, else the ledger's default, else the default programme's points account."""
    if account_id is not None:
        return ledger.get_account(session, organization_id, account_id, ledger_id)
    if ledger_id is not None:
        ledger.get_ledger(session, organization_id, ledger_id)
        account = session.scalars(select(LedgerAccount).where(LedgerAccount.ledger_id == ledger_id)
                                  .order_by(LedgerAccount.is_default.desc(), LedgerAccount.id)).first()
        if account is None:
            raise NotFound("Ledger has no accounts", field="ledgerId")
        return account
    program = default_program(session, organization_id)
    return session.get(LedgerAccount, program.points_account_id)


def open_wallet(session: Session, member: Member, *, actor: Actor, ledger_id: int | None = None,
                account_id: int | None = None) -> tuple[ledger.Wallet, bool]:
    """The member's wallet in the account (resolve_account's choice), opened empty if it did not exist.

    Moves no points and writes no ledger transaction; opening an open wallet
    changes nothing. Returns (wallet, opened now). Raises AccountNotActive for a
    locked, deactivated or erased member, NotFound for an account of another
    organisation.
    """
    from .errors import AccountNotActive

    account = resolve_account(session, member.organization_id, ledger_id, account_id)
    if not member.can_move_points or member.erased_at is not None:
        raise AccountNotActive("The member's account is not active", field="memberId")
    existing = session.scalars(select(ledger.Wallet).where(ledger.Wallet.ledger_account_id == account.id,
                                                           ledger.Wallet.member_id == member.id)).first()
    if existing is not None:
        return existing, False
    wallet = ledger.member_wallet(session, account, member.id)
    session.flush()
    audit.record(session, actor, "wallet.opened", wallet, memberId=member.id, ledgerAccountId=account.id)
    return wallet, True


def mint_to_member(session: Session, member: Member, amount: int, *, actor: Actor, reason: Reason,
                   ledger_id: int | None = None, account_id: int | None = None) -> Movement:
    """Mint into the member's wallet. Raises AccountNotActive, MaxSupplyExceeded, IdempotencyKeyReused."""
    return _member_movement(session, "mint", member, amount, actor, reason, ledger_id, account_id)


def burn_from_member(session: Session, member: Member, amount: int, *, actor: Actor, reason: Reason,
                     ledger_id: int | None = None, account_id: int | None = None) -> Movement:
    """Burn from the member's wallet. Raises InsufficientBalance, AccountNotActive, IdempotencyKeyReused."""
    return _member_movement(session, "burn", member, amount, actor, reason, ledger_id, account_id)


def adjust_member_points(session: Session, member: Member, delta: int, *, actor: Actor, reason_text: str,
                         system_unique_key: str | None = None, account_id: int | None = None) -> Movement:
    """A staff correction: positive mints, negative burns; a reason is required."""
    reason_text = (reason_text or "").strip()
    if not reason_text:
        raise ValidationFailed("Give a reason for the adjustment", field="reason")
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
        raise ValidationFailed("Enter a whole number of points other than 0", field="amount")
    reason = Reason(description=reason_text, tags=["adjustment"], system_unique_key=system_unique_key)
    if delta > 0:
        return mint_to_member(session, member, delta, actor=actor, reason=reason, account_id=account_id)
    return burn_from_member(session, member, -delta, actor=actor, reason=reason, account_id=account_id)


def post_transaction(session: Session, organization_id: int, request: TransferRequest, *, actor: Actor) -> Movement:
    """Mint, burn or transfer between wallets of one account, pending when captureMethod is manual."""
    return _once(session, organization_id, request.reason.system_unique_key, "ledger.transaction",
                 _request_params(request), lambda: [_post_one(session, organization_id, request, actor, None)])


def post_transaction_set(session: Session, organization_id: int, ledger_id: int, requests: list[TransferRequest], *,
                         actor: Actor, system_unique_key: str | None = None) -> Movement:
    """All legs or none. An invalid leg raises with its index in the field name."""
    ledger.get_ledger(session, organization_id, ledger_id)
    if not requests:
        raise ValidationFailed("Give at least one transaction", field="transactions")
    set_id = ledger.new_set_id()

    def perform():
        posted = []
        for index, request in enumerate(requests):
            request.ledger_id = ledger_id
            try:
                posted.append(_post_one(session, organization_id, request, actor, set_id))
            except DomainError as error:
                raise _at_index(error, "transactions", index) from None
        return posted

    return _once(session, organization_id, system_unique_key, "ledger.transaction_set",
                 {"ledgerId": ledger_id, "items": [_request_params(r) for r in requests]}, perform)


def post_batch(session: Session, organization_id: int, requests: list[TransferRequest], *,
               actor: Actor) -> tuple[list[LedgerTransaction], list[dict]]:
    """Each item (or each group sharing an atomicSetId) succeeds or fails on its own."""
    groups: dict[Any, list[tuple[int, TransferRequest]]] = {}
    for index, request in enumerate(requests):
        group_key = ("set", request.atomic_set_id) if request.atomic_set_id is not None else ("item", index)
        groups.setdefault(group_key, []).append((index, request))
    processed, failed = [], []
    for members_of_group in groups.values():
        set_id = ledger.new_set_id() if len(members_of_group) > 1 else None
        try:
            with session.begin_nested():
                group_posted = []
                for index, request in members_of_group:
                    try:
                        # A batch item names its ledger in the body: another organisation's is not found.
                        if request.ledger_id is not None:
                            ledger.get_ledger(session, organization_id, request.ledger_id)
                        movement = _once(session, organization_id, request.reason.system_unique_key,
                                         "ledger.transaction", _request_params(request),
                                         lambda r=request: [_post_one(session, organization_id, r, actor, set_id)])
                    except DomainError as error:
                        raise _at_index(error, "items", index) from None
                    group_posted.extend(movement.transactions)
            processed.extend(group_posted)
        except DomainError as error:
            for index, _ in members_of_group:
                failed.append({"index": index, "status": error.status, "title": error.title,
                               "detail": error.message, "errors": error.errors})
    return processed, failed


def revert_transaction(session: Session, organization_id: int, tx: LedgerTransaction, *, actor: Actor,
                       reason: Reason) -> Movement:
    return _once(session, organization_id, reason.system_unique_key, "ledger.revert", {"tx": tx.id},
                 lambda: [_audited(session, actor, "ledger.reverted",
                                   ledger.revert(session, tx, actor=actor, reason=_with_default(
                                       reason, f"revert of transaction {tx.id}")))])


def capture_transactions(session: Session, organization_id: int, account: LedgerAccount,
                         captures: list[tuple[int, int | None]], *, actor: Actor) -> list[LedgerTransaction]:
    """Capture each (pending transaction id, amount or None for all); all or nothing."""
    if not captures:
        raise ValidationFailed("Give at least one transaction", field="transactions")
    done = []
    for index, (tx_id, amount) in enumerate(captures):
        try:
            pending_tx = ledger.get_transaction(session, organization_id, tx_id, account.id)
            done.append(_audited(session, actor, "ledger.captured",
                                 ledger.capture(session, pending_tx, actor=actor, amount=amount)))
        except DomainError as error:
            raise _at_index(error, "transactions", index) from None
    return done


def balances(session: Session, member: Member, program: LoyaltyProgram | None = None) -> list[dict]:
    """The member's balance in every account of the organisation, main points account first (the accounts and
    the member's wallets in one query; `program`, the organisation's default, is looked up unless given)."""
    program = program or default_program(session, member.organization_id)
    found = session.execute(
        select(LedgerAccount, Wallet)
        .outerjoin(Wallet, (Wallet.ledger_account_id == LedgerAccount.id) & (Wallet.member_id == member.id))
        .where(LedgerAccount.organization_id == member.organization_id).order_by(LedgerAccount.id)).all()
    found.sort(key=lambda row: (row[0].id != program.points_account_id, row[0].id != program.tier_points_account_id,
                                row[0].id))
    rows = []
    for account, wallet in found:
        rows.append({"ledgerId": account.ledger_id, "ledgerAccountId": account.id, "name": account.name,
                     "walletId": wallet.id if wallet else None,
                     "balance": wallet.balance if wallet else 0,
                     "available": wallet.available if wallet else 0,
                     "pending": (wallet.pending_in if wallet else 0),
                     "held": (wallet.held if wallet else 0)})
    return rows


def transactions_by_ids(session: Session, ids: list[int]) -> list[LedgerTransaction]:
    if not ids:
        return []
    found = {t.id: t for t in session.scalars(select(LedgerTransaction).where(LedgerTransaction.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


# --- internals -------------------------------------------------------------------

def _member_movement(session, kind, member, amount, actor, reason, ledger_id, account_id) -> Movement:
    ledger.check_amount(amount)
    account = resolve_account(session, member.organization_id, ledger_id, account_id)
    params = {"member": member.id, "amount": amount, "account": account.id, "description": reason.description,
              "tags": reason.tags, "externalId": reason.external_id}

    def perform():
        wallet = ledger.member_wallet(session, account, member.id)
        move = ledger.mint if kind == "mint" else ledger.burn
        tx = move(session, account, wallet, amount, actor=actor, reason=reason)
        return [_audited(session, actor, f"ledger.{kind}ed" if kind == "mint" else "ledger.burned", tx)]

    return _once(session, member.organization_id, reason.system_unique_key, f"ledger.{kind}", params, perform)


def _post_one(session, organization_id: int, request: TransferRequest, actor: Actor,
              set_id: str | None) -> LedgerTransaction:
    if request.capture_method not in ("auto", "manual"):
        raise ValidationFailed("captureMethod must be auto or manual", field="captureMethod")
    if request.ledger_account_id is None:
        raise ValidationFailed("ledgerAccountId is required", field="ledgerAccountId")
    account = ledger.get_account(session, organization_id, request.ledger_account_id, request.ledger_id)
    ledger.check_amount(request.amount)
    source = (ledger.get_wallet(session, organization_id, request.from_wallet_id, account.id, field="fromWalletId")
              if request.from_wallet_id is not None else None)
    target = (ledger.get_wallet(session, organization_id, request.to_wallet_id, account.id, field="toWalletId")
              if request.to_wallet_id is not None else None)
    pending = request.capture_method == "manual"
    common = dict(actor=actor, reason=request.reason, pending=pending, set_id=set_id)
    if source is None and target is None:
        raise ValidationFailed("Give fromWalletId, toWalletId or both", field="toWalletId")
    if source is None:
        tx = ledger.mint(session, account, target, request.amount, **common)
    elif target is None:
        tx = ledger.burn(session, account, source, request.amount, **common)
    else:
        tx = ledger.transfer(session, account, source, target, request.amount, **common)
    return _audited(session, actor, PAST_TENSE[tx.type], tx)


PAST_TENSE = {"mint": "ledger.minted", "burn": "ledger.burned", "transfer": "ledger.transferred"}


def _once(session, organization_id, key, operation, params, perform) -> Movement:
    performed: list[LedgerTransaction] = []

    def run() -> dict:
        performed.extend(perform())
        return {"transactionIds": [t.id for t in performed]}

    outcome = idempotency.run_once(session, organization_id, key, operation, params, run)
    if not outcome.replayed:
        # The new objects themselves, not reloaded copies: if a caller's savepoint rolls back,
        # SQLAlchemy then forgets them instead of keeping stale rows in the identity map.
        return Movement(performed)
    return Movement(transactions_by_ids(session, outcome.result.get("transactionIds", [])), replayed=True)


def _audited(session, actor: Actor, action: str, tx: LedgerTransaction) -> LedgerTransaction:
    audit.record(session, actor, action, tx, amount=tx.amount, ledgerAccountId=tx.ledger_account_id)
    return tx


def _request_params(request: TransferRequest) -> dict:
    return {"amount": request.amount, "account": request.ledger_account_id, "from": request.from_wallet_id,
            "to": request.to_wallet_id, "capture": request.capture_method,
            "description": request.reason.description, "tags": request.reason.tags,
            "externalId": request.reason.external_id}


def _with_default(reason: Reason, description: str) -> Reason:
    if not reason.description:
        reason.description = description
    return reason


def _at_index(error: DomainError, collection: str, index: int) -> DomainError:
    """Re-raise a leg's error with `transactions[6].amount` style field names."""
    fields = error.errors or {error.field or "": [error.message]}
    error.errors = {f"{collection}[{index}]" + (f".{name}" if name else ""): messages
                    for name, messages in fields.items()}
    error.field = next(iter(error.errors))
    error.message = f"{collection}[{index}]: {error.message}"
    return error


def utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.timezone.utc) if value else None
