"""Points use cases: what the API, the console and the portal ask the ledger to do.

Each function resolves accounts and wallets inside the organisation, runs the
ledger movement once per `systemUniqueKey`, audits it, and returns a Movement.
A failure anywhere raises; the caller's transaction then rolls back whole.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import bindparam, or_, select, true
from sqlalchemy.orm import Session, load_only
from sqlalchemy.orm.util import identity_key

from . import audit, idempotency, ledger, members
from .actors import Actor
from .base import fits_id, keep, session_memo
from .errors import DomainError, IdempotencyKeyReused, NotFound, ValidationFailed
from .idempotency import IdempotencyKey
from .ledger import LedgerAccount, LedgerTransaction, Reason, Wallet
from .members import Member
from .organizations import (LoyaltyProgram, default_program, default_program_select, note_program_accounts,
                            note_tier_programs)


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


# Built once (a mint's first statement): executing them then skips building the statement and its cache key.
_DEFAULT_ACCOUNT = default_program_select(LoyaltyProgram, LedgerAccount).join(
    LedgerAccount, LedgerAccount.id == LoyaltyProgram.points_account_id)


def _default_account_and_wallets(member_id=None, *, onto=None):
    """The default programme, its points account and a row per wallet a movement of the member takes in it (the
    member's own, the account's system wallets); the member `member_id` (a bound `member_id` if not given).
    `onto`: a statement of that member, which keeps its row (None after it) when the organisation has no
    programme. The one definition of the read `resolve_account` and `member_by_loyalty_id` make."""
    member_id = bindparam("member_id") if member_id is None else member_id
    is_default = LoyaltyProgram.id == default_program_select(LoyaltyProgram.id).scalar_subquery()
    its_account = LedgerAccount.id == LoyaltyProgram.points_account_id
    its_wallets = (Wallet.ledger_account_id == LedgerAccount.id) & or_(
        Wallet.member_id == member_id, Wallet.kind.in_((ledger.ISSUANCE, ledger.BURNED)))
    if onto is None:
        return (select(LoyaltyProgram, LedgerAccount, Wallet).join(LedgerAccount, its_account)
                .outerjoin(Wallet, its_wallets).where(is_default))
    return (onto.add_columns(LoyaltyProgram, LedgerAccount, Wallet).select_from(Member)
            .outerjoin(LoyaltyProgram, is_default)
            .outerjoin(LedgerAccount, its_account).outerjoin(Wallet, its_wallets))


# Built once (a mint's first statement): the member's wallet in the account and the account's system wallets.
_DEFAULT_ACCOUNT_AND_WALLETS = _default_account_and_wallets()


@cache
def _default_account_wallets_and_debts():
    """_DEFAULT_ACCOUNT_AND_WALLETS, and whether the member owes points (built on first use: orders imports late)."""
    from .orders import owes_points

    return _DEFAULT_ACCOUNT_AND_WALLETS.add_columns(owes_points(bindparam("member_id")).label("owes"))


def resolve_account(session: Session, organization_id: int, ledger_id: int | None = None,
                    account_id: int | None = None, *, wallets_of: int | None = None,
                    debts_too: bool = False) -> LedgerAccount:
    """The named account, else the ledger's default, else the default programme's points account.

    `wallets_of` (a member id): the default programme's account is read with that member's wallet in it and
    its system wallets, in the same statement, for the movement that follows (`ledger.member_wallet`); with
    `debts_too`, whether the member owes points as well (a mint: its settling then asks nothing when not)."""
    if account_id is not None:
        account = ledger.get_account(session, organization_id, account_id, ledger_id)
        keep(session, account)
        return account
    if ledger_id is not None:
        ledger.get_ledger(session, organization_id, ledger_id)
        account = session.scalars(select(LedgerAccount).where(LedgerAccount.ledger_id == ledger_id)
                                  .order_by(LedgerAccount.is_default.desc(), LedgerAccount.id)).first()
        if account is None:
            raise NotFound("Ledger has no accounts", field="ledgerId")
        return account
    if wallets_of is not None:  # read already with the member (member_by_loyalty_id): taken once
        noted = session_memo(session, "points.default_account").pop((organization_id, wallets_of), None)
        if noted is not None:
            return noted
    # The default programme and its points account in one statement.
    if wallets_of is None:
        found = session.execute(_DEFAULT_ACCOUNT, {"organization_id": organization_id}).first()
    else:
        rows = session.execute(_default_account_wallets_and_debts() if debts_too else _DEFAULT_ACCOUNT_AND_WALLETS,
                               {"organization_id": organization_id, "member_id": wallets_of}).all()
        found = rows[0] if rows else None
    if found is None:
        default_program(session, organization_id)  # raises NotFound
    if wallets_of is None:
        note_program_accounts(session, found[0])
    else:
        _note_default_account(session, wallets_of, rows, debts_too=debts_too)
    return found[1]


def _note_default_account(session: Session, member_id: int, rows, *, debts_too: bool) -> None:
    """Remember what the default account's read told (`_default_account_and_wallets`' rows: programme, account,
    wallet and, `debts_too`, whether the member owes points): the member's and the system wallets for the movement
    (`ledger.member_wallet`), the programme's accounts and that the member owes nothing (`orders.settle_debts`)."""
    program, account = rows[0][0], rows[0][1]
    ledger.note_wallets(session, account, member_id, [row[2] for row in rows if row[2] is not None])
    if debts_too:
        from .orders import note_owes

        note_owes(session, member_id, rows[0][3])
    note_program_accounts(session, program)


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


def member_by_loyalty_id(session: Session, organization_id: int, loyalty_member_id: str, *,
                         ledger_id: int | None = None, account_id: int | None = None) -> Member:
    """The member a mint or burn names by loyaltyMemberId (`members.BY_LOYALTY_MEMBER_ID`, else NotFound on it),
    loaded with only what moving points asks of a member (`_MOVING_MEMBER`).

    A movement into the default account (no ledger or account named) reads it in the same statement, as
    `resolve_account` reads it with `wallets_of` and `debts_too`, and hands it to the movement's `resolve_account`,
    which then reads nothing (one statement less for an API mint or burn)."""
    params = members.loyalty_member_params(organization_id, loyalty_member_id)
    if ledger_id is not None or account_id is not None:
        return members.found_by_loyalty_member_id(session.scalars(_MOVING_MEMBER, params).first())
    rows = session.execute(_moving_member_and_default_account(), params).all()
    member = members.found_by_loyalty_member_id(rows[0][0] if rows else None)
    if rows[0][1] is not None:  # no programme: resolve_account says so
        _note_default_account(session, member.id, [row[1:] for row in rows], debts_too=True)
        session_memo(session, "points.default_account")[organization_id, member.id] = rows[0][2]
    return member


def move_for_loyalty_member(session: Session, organization_id: int, loyalty_member_id: str, kind: str, amount: int,
                            *, actor: Actor, reason: Reason, ledger_id: int | None = None,
                            account_id: int | None = None) -> Movement:
    """A mint or burn (`kind`) for the member a till names by loyaltyMemberId: `member_by_loyalty_id`, then
    `mint_to_member` or `burn_from_member` into the same ledger or account (the default one when none is named)."""
    member = member_by_loyalty_id(session, organization_id, loyalty_member_id, ledger_id=ledger_id,
                                  account_id=account_id)
    move = mint_to_member if kind == "mint" else burn_from_member
    return move(session, member, amount, actor=actor, reason=reason, ledger_id=ledger_id, account_id=account_id)


# Built once; the member's id, organisation and standing only (`Member.can_move_points`, `ledger.check_posting`):
# its profile (JSON columns among them) is not built for a mint, and would load on first use.
_MOVING_MEMBER = members.BY_LOYALTY_MEMBER_ID.options(
    load_only(Member.id, Member.organization_id, Member.active, Member.account_status, Member.erased_at))


@cache
def _moving_member_and_default_account():
    """`_MOVING_MEMBER` with the default account's read of that member (`_default_account_and_wallets`) and whether
    the member owes points: a row per wallet, the member alone (programme and account None) without a programme."""
    from .orders import owes_points

    return _default_account_and_wallets(Member.id, onto=_MOVING_MEMBER).add_columns(
        owes_points(Member.id).label("owes"))


def mint_to_member(session: Session, member: Member, amount: int, *, actor: Actor, reason: Reason,
                   ledger_id: int | None = None, account_id: int | None = None) -> Movement:
    """Mint into the member's wallet (for many mints at once: `mint_to_members`), then settle the member's open
    debts in the account from it (orders.settle_debts:
    every earning settles, a campaign's, a mission's, a referral's, a staff correction's). Raises AccountNotActive,
    MaxSupplyExceeded, IdempotencyKeyReused."""
    return _member_movement(session, "mint", member, amount, actor, reason, ledger_id, account_id)


def mint_to_members(session: Session, organization_id: int, mints: list[tuple[Any, int, int, Reason]], *,
                    actor: Actor, settle: bool = True) -> list[ledger.LedgerTransaction]:
    """Each (member, account id, amount, reason) minted into the member's wallet in the account, as
    `mint_to_member` would with no key (one transaction each, audited `ledger.minted`, the member's open
    debts in the account settled from it when `settle`), in a fixed number of statements per account: the
    accounts, the wallets (a single member's with its account's system wallets), then `ledger.post_all`
    (transactions, entries, balances, shards, outbox events) and the audit entries, one statement each.
    Checked as `ledger.post` checks (active member and account, the maximum supply through `ledger.Funds`).
    Raises AccountNotActive, LedgerAccountNotActive, MaxSupplyExceeded, NotFound (another organisation's account)."""
    from .orders import settle_debts

    wanted = sorted({account_id for _, account_id, _, _ in mints})
    unknown = [a for a in wanted if session.identity_map.get(identity_key(LedgerAccount, a)) is None]
    if len(unknown) > 1:  # read at once; get_account below then finds them in the identity map
        keep(session, *session.scalars(select(LedgerAccount).where(LedgerAccount.id.in_(unknown))))
    accounts = {account_id: ledger.get_account(session, organization_id, account_id) for account_id in wanted}
    keep(session, *accounts.values())
    members = {member.id: member for member, _, _, _ in mints}
    wallets: dict[tuple[int, int], ledger.Wallet] = {}
    if len(members) == 1:  # a purchase: the member's points and tier points wallets in one statement
        [member_id] = members
        wallets.update(((account_id, member_id), wallet) for account_id, wallet in ledger.member_wallet_in_each(
            session, list(accounts.values()), member_id).items())
    else:
        for account_id, account in accounts.items():
            ids = sorted({member.id for member, to, _, _ in mints if to == account_id})
            ledger.system_wallets(session, [account])
            wallets.update(((account_id, m), w) for m, w in ledger.member_wallets_in(session, account, ids).items())
    issuance = {account_id: ledger.system_wallet(session, account, ledger.ISSUANCE)
                for account_id, account in accounts.items()}
    funds, _ = ledger.Funds.lock(session, organization_id, [], [
        issuance[account_id].id for account_id, account in accounts.items() if account.max_supply is not None])
    postings = []
    for member, account_id, amount, reason in mints:
        posting = ledger.Posting(ledger.MINT, accounts[account_id], issuance[account_id],
                                 wallets[account_id, member.id], amount, reason, actor)
        ledger.check_posting(session, posting)
        funds.take(posting)
        postings.append(posting)
    txs = ledger.post_all(session, postings)
    keep(session, *txs)  # the order reads them again by id (orders._account_of)
    audit.record_many(session, actor, [("ledger.minted", tx) for tx in txs],
                      amount=lambda tx: tx.amount, ledgerAccountId=lambda tx: tx.ledger_account_id)
    if settle:  # points earned, of any kind: the member's open debts are paid from them first
        for account_id, member_id in sorted({(account_id, member.id) for member, account_id, _, _ in mints}):
            settle_debts(session, members[member_id], actor=actor, account=accounts[account_id],
                         wallet=wallets[account_id, member_id])
    return txs


def burn_from_member(session: Session, member: Member, amount: int, *, actor: Actor, reason: Reason,
                     ledger_id: int | None = None, account_id: int | None = None) -> Movement:
    """Burn from the member's wallet. Raises InsufficientBalance, AccountNotActive, IdempotencyKeyReused."""
    return _member_movement(session, "burn", member, amount, actor, reason, ledger_id, account_id)


def adjust_member_points(session: Session, member: Member, delta: int, *, actor: Actor, reason_text: str,
                         system_unique_key: str | None = None, account_id: int | None = None) -> Movement:
    """A staff correction: positive mints, negative burns; a reason is required.

    A positive correction is an earning like any other: it pays the member's open debts first (mint_to_member).
    Points owed are the programme's before they are the member's, and a correction that skipped them would let
    a member spend points while owing (so a correction does not forgive a debt either)."""
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
                 _request_params(request), lambda: [_post_one(session, organization_id, request, actor, None)],
                 by_key=True)


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
               actor: Actor) -> tuple[list[LedgerTransaction | ledger.Posted], list[dict]]:
    """Each item (or each group sharing an atomicSetId) succeeds or fails on its own.

    Set-based, in a fixed number of statements whatever the number of items: the accounts named with their
    ledgers and system wallets are read in one statement, the wallets (locked, see `ledger.Funds`) with their
    members' standing in one, the keys claimed in one; then each group is checked in order against the balances the groups before it
    left, with no write; then what passed is written at once (`ledger.post_all`) and audited in one
    statement, and the keys of failed items are given back in one. An item whose key came before
    replays it (the same body) or is refused (IdempotencyKeyReused); so does a second item with the
    key of an earlier one in the same batch (one with the same body runs when the earlier one failed).
    """
    groups: dict[Any, list[tuple[int, TransferRequest]]] = {}
    for index, request in enumerate(requests):
        group_key = ("set", request.atomic_set_id) if request.atomic_set_id is not None else ("item", index)
        groups.setdefault(group_key, []).append((index, request))
    loaded = _load_batch(session, organization_id, requests)  # held to the end: the identity map holds rows weakly
    prints = {i: idempotency.fingerprint("ledger.transaction", _request_params(r)) for i, r in enumerate(requests)
              if r.reason.system_unique_key}
    firsts: dict[str, int] = {}
    for index in prints:
        firsts.setdefault(requests[index].reason.system_unique_key, index)
    claimed = idempotency.claim(session, organization_id, [
        (key, "ledger.transaction", prints[index], BY_KEY) for key, index in firsts.items()])
    stored = idempotency.find_all(session, organization_id, [key for key in firsts if key not in claimed])
    funds = loaded["funds"]
    owners: dict[str, int] = {}  # key -> the item that runs it
    accepted: list[tuple[int, Any]] = []  # (index, Posting | stored key row | index of the owner)
    failed, failed_indexes = [], set()
    books_found: set[int] = set()  # the ledgers items named that were found (each looked up once)
    for members_of_group in groups.values():
        set_id = ledger.new_set_id() if len(members_of_group) > 1 else None
        before, planned = funds.copy(), []
        try:
            for index, request in members_of_group:
                try:
                    # A batch item names its ledger in the body: another organisation's is not found.
                    if request.ledger_id is not None and request.ledger_id not in books_found:
                        ledger.get_ledger(session, organization_id, request.ledger_id)
                        books_found.add(request.ledger_id)
                    key = request.reason.system_unique_key
                    if key:
                        # The key row holds the body of the first item with the key (or of an earlier request).
                        first_print = stored[key].fingerprint if key in stored else prints[firsts[key]]
                        if first_print != prints[index]:
                            raise IdempotencyKeyReused(
                                "systemUniqueKey was already used with a different request", field="systemUniqueKey")
                        owner = owners.get(key)
                        if key in stored or (owner is not None and owner not in failed_indexes):
                            planned.append((index, stored.get(key, owner)))
                            continue
                    posting = _posting(session, organization_id, request, actor, set_id, funds.movable)
                    funds.take(posting)
                    if key:
                        owners[key] = index
                    planned.append((index, posting))
                except DomainError as error:
                    raise _at_index(error, "items", index) from None
        except DomainError as error:
            funds = before
            for index, _ in members_of_group:
                failed_indexes.add(index)
                failed.append({"index": index, "status": error.status, "title": error.title,
                               "detail": error.message, "errors": error.errors})
            continue
        accepted.extend(planned)
    postings = [(index, p) for index, p in accepted if isinstance(p, ledger.Posting)]
    # As rows: the answer is all the batch does with them (no ORM object per item).
    written = dict(zip([index for index, _ in postings],
                       ledger.post_all(session, [p for _, p in postings], as_rows=True)))
    audit.record_many(session, actor, [(PAST_TENSE[tx.type], tx) for tx in written.values()],
                      amount=lambda tx: tx.amount, ledgerAccountId=lambda tx: tx.ledger_account_id)
    given_back = [claimed[key] for key in claimed if owners.get(key) is None or owners[key] in failed_indexes]
    if given_back:  # a key whose item failed is not kept: a retry runs it
        idempotency.forget(session, given_back)
    replayed = _replayed_many(session, organization_id, [p for _, p in accepted if isinstance(p, IdempotencyKey)])
    processed = []
    for index, outcome in accepted:
        if isinstance(outcome, ledger.Posting):
            processed.append(written[index])
        elif isinstance(outcome, IdempotencyKey):
            processed.extend(replayed.get(outcome.key, []))
        else:  # the same key earlier in this batch
            processed.append(written[outcome])
    return processed, failed


def _load_batch(session, organization_id: int, requests: list[TransferRequest]) -> dict:
    """What a batch names, into the identity map (the lookups that follow then ask nothing): its accounts with their
    ledgers, the programme each holds the tier points of (for the tier hook) and their system wallets in one
    statement (the ledgers named that are none of the accounts' in one more), then its wallets locked with their
    members' standing (`ledger.Funds.lock`)."""
    def ids(*names):
        return sorted({v for r in requests for v in (getattr(r, n) for n in names) if fits_id(v)})

    accounts: dict[int, LedgerAccount] = {}
    tier_programs: dict[int, LoyaltyProgram | None] = {}
    system: dict[int, list[Wallet]] = {}
    books = set()
    for account, book, program, wallet in session.execute(_BATCH_ACCOUNTS, {"ids": ids("ledger_account_id"),
                                                                              "organization_id": organization_id}):
        accounts[account.id] = account
        books.add(book)
        tier_programs.setdefault(account.id, program)
        if wallet is not None and wallet not in system.setdefault(account.id, []):
            system[account.id].append(wallet)
    note_tier_programs(session, tier_programs)
    for account_id, wallets in system.items():
        ledger.note_wallets(session, accounts[account_id], None, wallets)
    other_books = [i for i in ids("ledger_id") if i not in {book.id for book in books}]
    if other_books:  # an item's ledger that is not its account's: found here, or not found for it alone
        books.update(session.scalars(_BATCH_LEDGERS, {"ids": other_books, "organization_id": organization_id}))
    capped = [ledger.system_wallet(session, a, ledger.ISSUANCE).id for a in accounts.values() if a.max_supply is not None]
    funds, wallets = ledger.Funds.lock(session, organization_id, ids("from_wallet_id", "to_wallet_id"), capped)
    keep(session, *wallets)  # to the transaction's end: the response names their members (ledger.wallet_owners)
    return {"funds": funds, "rows": [*accounts.values(), *books, *(w for ws in system.values() for w in ws),
                                     *(program for program in tier_programs.values() if program is not None)]}


# A batch's reads, built once (bound lists expand): executing them then skips building them and their cache keys.
_BATCH_LEDGERS = select(ledger.Ledger).where(ledger.Ledger.id.in_(bindparam("ids", expanding=True)),
                                             ledger.Ledger.organization_id == bindparam("organization_id"))
_BATCH_ACCOUNTS = (select(LedgerAccount, ledger.Ledger, LoyaltyProgram, Wallet)
                   .join(ledger.Ledger, ledger.Ledger.id == LedgerAccount.ledger_id)
                   .outerjoin(LoyaltyProgram, LoyaltyProgram.tier_points_account_id == LedgerAccount.id)
                   .outerjoin(Wallet, (Wallet.ledger_account_id == LedgerAccount.id)
                              & Wallet.kind.in_((ledger.ISSUANCE, ledger.BURNED)))
                   .where(LedgerAccount.id.in_(bindparam("ids", expanding=True)),
                          LedgerAccount.organization_id == bindparam("organization_id"))
                   .order_by(LedgerAccount.id, LoyaltyProgram.id, Wallet.id))


def _replayed_many(session, organization_id: int, rows: list[IdempotencyKey]) -> dict[str, list[LedgerTransaction]]:
    """The first response of each replayed key (see `_replayed`), the movements found by key in one statement."""
    found: dict[str, list[LedgerTransaction]] = {}
    by_key = {row.key: row for row in rows if row.result.get("transactionsByKey")}
    if by_key:
        for tx in session.scalars(select(LedgerTransaction).where(
                LedgerTransaction.organization_id == organization_id,
                LedgerTransaction.system_unique_key.in_(list(by_key))).order_by(LedgerTransaction.id)):
            if tx.created_at >= by_key[tx.system_unique_key].created_at:
                found.setdefault(tx.system_unique_key, [tx])
    for row in rows:
        if row.key not in by_key:
            found[row.key] = transactions_by_ids(session, row.result.get("transactionIds", []))
    return found


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


def balances(session: Session, member: Member) -> list[dict]:
    """`member_balances` of this member."""
    return member_balances(session, member.organization_id, member.id)


def member_balances(session: Session, organization_id: int, member_id: int) -> list[dict]:
    """The member's balance in every account of the organisation (`balance_row`), the default programme's points
    account first, then its tier points account, in one query that also finds the member. NotFound on memberId
    when the organisation has no such member; NotFound when it has no programme, as `default_program`."""
    found = session.execute(_MEMBER_BALANCES, {"organization_id": organization_id, "member_id": member_id}).all()
    if not found:
        member = session.get(Member, member_id) if fits_id(member_id) else None
        if member is None or member.organization_id != organization_id:
            raise NotFound("Member not found", field="memberId")
        raise NotFound("Organization has no loyalty program")  # a programme always has its points account
    main, tier = found[0].points_account_id, found[0].tier_points_account_id
    return [balance_row(row.ledger_id, row.id, row.name, row.wallet_id, row.balance or 0, row.held or 0,
                        row.pending_in or 0)
            for row in sorted(found, key=lambda row: (row.id != main, row.id != tier, row.id))]


def balance_row(ledger_id: int, account_id: int, name: str, wallet_id: int | None, balance: int, held: int,
                pending: int) -> dict:
    """A member's balance in one account as every face shows it (the API, the console, the portal's wallet)."""
    return {"ledgerId": ledger_id, "ledgerAccountId": account_id, "name": name, "walletId": wallet_id,
            "balance": balance, "available": ledger.available_points(balance, held), "pending": pending, "held": held}


def _balances_statement():
    """The organisation's accounts with the member's wallet in each (Core: plain rows, no models)."""
    account, wallet = LedgerAccount.__table__, Wallet.__table__
    return (select(account.c.ledger_id, account.c.id, account.c.name, wallet.c.id.label("wallet_id"),
                   wallet.c.balance, wallet.c.held, wallet.c.pending_in)
            .select_from(account)
            .outerjoin(wallet, (wallet.c.ledger_account_id == account.c.id)
                       & (wallet.c.member_id == bindparam("member_id")))
            .where(account.c.organization_id == bindparam("organization_id")).order_by(account.c.id))


def _with_default_program(stmt):
    program = LoyaltyProgram.__table__
    default = default_program_select(program.c.points_account_id, program.c.tier_points_account_id).subquery()
    return stmt.add_columns(default.c.points_account_id, default.c.tier_points_account_id).join(default, true())


_MEMBER_BALANCES = _with_default_program(_balances_statement()).join(
    Member.__table__, (Member.__table__.c.id == bindparam("member_id"))
    & (Member.__table__.c.organization_id == LedgerAccount.__table__.c.organization_id))


def transactions_by_ids(session: Session, ids: list[int]) -> list[LedgerTransaction]:
    if not ids:
        return []
    found = {t.id: t for t in session.scalars(select(LedgerTransaction).where(LedgerTransaction.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


# --- internals -------------------------------------------------------------------

def _member_movement(session, kind, member, amount, actor, reason, ledger_id, account_id) -> Movement:
    ledger.check_amount(amount)
    account = resolve_account(session, member.organization_id, ledger_id, account_id, wallets_of=member.id,
                              debts_too=kind == "mint")
    params = {"member": member.id, "amount": amount, "account": account.id, "description": reason.description,
              "tags": reason.tags, "externalId": reason.external_id}

    def perform():
        wallet = ledger.member_wallet(session, account, member.id)
        move = ledger.mint if kind == "mint" else ledger.burn
        tx = move(session, account, wallet, amount, actor=actor, reason=reason)
        done = [_audited(session, actor, f"ledger.{kind}ed" if kind == "mint" else "ledger.burned", tx)]
        if kind == "mint":  # points earned, of any kind: the member's open debts are paid from them first
            from .orders import settle_debts

            settle_debts(session, member, actor=actor, account=account, wallet=wallet)
        return done

    return _once(session, member.organization_id, reason.system_unique_key, f"ledger.{kind}", params, perform,
                 by_key=True)


def _post_one(session, organization_id: int, request: TransferRequest, actor: Actor,
              set_id: str | None) -> LedgerTransaction:
    p = _posting(session, organization_id, request, actor, set_id)
    tx = ledger.post(session, kind=p.kind, account=p.account, source=p.source, target=p.target, amount=p.amount,
                     actor=actor, reason=p.reason, pending=p.pending, set_id=set_id)
    return _audited(session, actor, PAST_TENSE[tx.type], tx)


def _posting(session, organization_id: int, request: TransferRequest, actor: Actor,
             set_id: str | None, movable: dict[int, bool] | None = None) -> ledger.Posting:
    """The request as a movement the ledger will take, checked (raises as posting it would, but the debit);
    `movable`: the members' standing as read already (`ledger.check_posting`)."""
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
    if source is None and target is None:
        raise ValidationFailed("Give fromWalletId, toWalletId or both", field="toWalletId")
    if source is None:
        kind, source = ledger.MINT, ledger.system_wallet(session, account, ledger.ISSUANCE)
    elif target is None:
        kind, target = ledger.BURN, ledger.system_wallet(session, account, ledger.BURNED)
    else:
        kind = ledger.TRANSFER
        if source.id == target.id:
            raise ValidationFailed("Source and destination wallet must differ", field="toWalletId")
    posting = ledger.Posting(kind, account, source, target, request.amount, request.reason, actor,
                             pending=request.capture_method == "manual", set_id=set_id)
    ledger.check_posting(session, posting, movable)
    return posting


PAST_TENSE = {"mint": "ledger.minted", "burn": "ledger.burned", "transfer": "ledger.transferred"}


# What a key row of a movement that stores its key on its transaction holds: the replay finds it by the key.
BY_KEY = {"transactionsByKey": True}


def _once(session, organization_id, key, operation, params, perform, *, by_key: bool = False) -> Movement:
    """`perform` once per key. `by_key`: the one transaction it writes carries the key as its
    systemUniqueKey, so the key row needs no result written after the movement."""
    performed: list[LedgerTransaction] = []

    def run() -> dict:
        performed.extend(perform())
        return {"transactionIds": [t.id for t in performed]}

    outcome = idempotency.run_once(session, organization_id, key, operation, params, run,
                                   result=BY_KEY if by_key else None)
    if not outcome.replayed:
        # The new objects themselves, not reloaded copies: if a caller's savepoint rolls back,
        # SQLAlchemy then forgets them instead of keeping stale rows in the identity map.
        return Movement(performed)
    return Movement(_replayed(session, organization_id, key, outcome), replayed=True)


def _replayed(session, organization_id: int, key: str, outcome: idempotency.Outcome) -> list[LedgerTransaction]:
    if outcome.result.get("transactionsByKey"):
        # The first transaction with the key since the key was claimed (a set's leg may have carried the
        # same key before without claiming it).
        return list(session.scalars(select(LedgerTransaction).where(
            LedgerTransaction.organization_id == organization_id, LedgerTransaction.system_unique_key == key,
            LedgerTransaction.created_at >= outcome.claimed_at).order_by(LedgerTransaction.id).limit(1)))
    return transactions_by_ids(session, outcome.result.get("transactionIds", []))


def _audited(session, actor: Actor, action: str, tx: LedgerTransaction) -> LedgerTransaction:
    audit.record_now(session, actor, action, tx, amount=tx.amount, ledgerAccountId=tx.ledger_account_id)
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

