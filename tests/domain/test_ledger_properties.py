"""Random sequences of ledger movements against a simple model, with the ledger's
invariants checked after every step (hypothesis RuleBasedStateMachine).

Two organisations with three member wallets each; the second organisation's
account has a maximum supply. Each step runs in a savepoint that is rolled back
when the movement is refused, as the API edge does; each example runs in its
own savepoint inside the test's rolled-back transaction, so examples start from
empty wallets. The model predicts which movements succeed and which error each
refused one raises, and every balance, hold and incoming amount.

Besides the movements themselves, the machine sends keyed movements (a replay
with the same key and body returns the first transaction and writes nothing; the
same key with another body is refused) and transaction sets (all legs or none:
one refused leg refuses the set, naming that leg). After every step it checks
that entries and transactions once written never change or vanish, that there
are exactly two entries per posting, and as many transactions as the model made.

Profiles (HYPOTHESIS_PROFILE): `ci` (the default, what `make test` runs) 300
examples of 50 steps, the number RELIABILITY.md promises; `quick` 50 x 30 for
a developer's loop. tests/README.md has the measured times.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from portal.domain import ledger, members, points
from portal.domain.errors import (AccountNotActive, AlreadyResolved, DomainError, IdempotencyKeyReused,
                                  InsufficientBalance, MaxSupplyExceeded, NotFound, NotPending, NotRevertible,
                                  ValidationFailed)
from portal.domain.ledger import LedgerEntry, LedgerTransaction, Reason, Wallet, WalletShard
from portal.domain.points import TransferRequest

from ..factories import make_member, make_org

PROFILES = {"ci": dict(max_examples=300, stateful_step_count=50),
            "quick": dict(max_examples=50, stateful_step_count=30)}
PROFILE = PROFILES[os.environ.get("HYPOTHESIS_PROFILE", "ci")]
MAX_SUPPLY = 400  # of the second organisation's account
ISS, BURN = "issuance", "burned"


@dataclass
class Tx:
    kind: str
    amount: int
    source: object  # a member wallet index, or ("issuance"|"burned", org)
    target: object
    org: int
    pending: bool = False
    resolved: bool = False
    reverted: bool = False


def build_machine(session, setup):
    """A state machine class bound to this test's session and organisations."""
    runs = setup["runs"]
    queries = invariant_queries(setup)

    class LedgerMachine(RuleBasedStateMachine):
        transactions = Bundle("transactions")
        keys = Bundle("keys")  # (organisation index, systemUniqueKey) of keyed movements that ran

        def __init__(self):
            super().__init__()
            runs["examples"] += 1
            self.savepoint = session.begin_nested()
            self.balance = {w: 0 for w in range(6)}
            self.held = {w: 0 for w in range(6)}
            self.incoming = {w: 0 for w in range(6)}
            self.minted = [0, 0]
            self.burned = [0, 0]
            self.locked: set[int] = set()
            self.txs: dict[int, Tx] = {}
            self.postings = 0  # posted movements, captures and reverts: two entries each
            self.keys: dict[tuple[int, str], tuple[tuple, int]] = {}  # (org, key) -> (request, transaction id)
            self.entries_seen: dict[int, tuple] = {}
            self.txs_seen: dict[int, tuple] = {}

        def teardown(self):
            if self.savepoint.is_active:
                self.savepoint.rollback()
            session.expire_all()

        # --- helpers -----------------------------------------------------------------------

        @staticmethod
        def org_of(w: int) -> int:
            return w // 3

        def wallet(self, w: int) -> Wallet:
            return session.get(Wallet, setup["wallets"][w])

        def account(self, org: int):
            return setup["accounts"][org]

        def available(self, w: int) -> int:
            return self.balance[w] - self.held[w]

        def attempt(self, action, expected: type[DomainError] | None, field_prefix: str | None = None):
            """Run `action` in a savepoint; it must fail with exactly `expected` (naming a field that starts
            with `field_prefix`, when given), or succeed when None."""
            runs["steps"] += 1
            step = session.begin_nested()
            try:
                result = action()
            except DomainError as error:
                step.rollback()
                session.expire_all()
                assert type(error) is expected, f"expected {expected and expected.__name__}, got {error!r}"
                if field_prefix is not None:
                    assert (error.field or "").startswith(field_prefix), (field_prefix, error.field)
                runs["refused"] += 1
                runs["errors"][type(error).__name__] = runs["errors"].get(type(error).__name__, 0) + 1
                return None
            step.commit()
            session.expire_all()
            assert expected is None, f"expected {expected.__name__}, but the movement succeeded"
            return result

        def remember(self, tx: LedgerTransaction | None, record: Tx):
            if tx is None:
                return multiple()
            self.txs[tx.id] = record
            return tx.id

        def debit_refusal(self, party, amount: int):
            """What refuses taking `amount` from a wallet, or None."""
            if isinstance(party, int):
                return InsufficientBalance if amount > self.available(party) else None
            kind, org = party
            if kind == ISS:
                cap = MAX_SUPPLY if org == 1 else None
                return MaxSupplyExceeded if cap is not None and self.minted[org] + amount > cap else None
            return InsufficientBalance if amount > self.burned[org] else None

        def post(self, source, target, amount: int):
            self.postings += 1
            for party, delta in ((source, -amount), (target, amount)):
                if isinstance(party, int):
                    self.balance[party] += delta
                elif party[0] == ISS:
                    self.minted[party[1]] -= delta
                else:
                    self.burned[party[1]] += delta

        def hold(self, source, target, amount: int, sign: int = 1):
            if isinstance(source, int):
                self.held[source] += sign * amount
            if isinstance(target, int):
                self.incoming[target] += sign * amount

        # --- rules ---------------------------------------------------------------------------

        @rule(target=transactions, w=st.integers(0, 5), amount=st.integers(1, 200))
        def earn(self, w, amount):
            """A posted mint (a second rule, so that wallets fill up more often than they are spent)."""
            return self.mint(w, amount, pending=False)

        @rule(target=transactions, w=st.integers(0, 5), amount=st.integers(1, 200), pending=st.booleans())
        def mint(self, w, amount, pending):
            org = self.org_of(w)
            source, target = (ISS, org), w
            expected = AccountNotActive if w in self.locked else (
                None if pending else self.debit_refusal(source, amount))
            tx = self.attempt(lambda: ledger.mint(session, self.account(org), self.wallet(w), amount,
                                                  actor=setup["actor"], pending=pending), expected)
            if tx is not None:
                self.hold(source, target, amount) if pending else self.post(source, target, amount)
            return self.remember(tx, Tx("mint", amount, source, target, org, pending))

        @rule(target=transactions, w=st.integers(0, 5), amount=st.integers(1, 40), pending=st.booleans())
        def burn(self, w, amount, pending):
            org = self.org_of(w)
            source, target = w, (BURN, org)
            expected = AccountNotActive if w in self.locked else self.debit_refusal(source, amount)
            tx = self.attempt(lambda: ledger.burn(session, self.account(org), self.wallet(w), amount,
                                                  actor=setup["actor"], pending=pending), expected)
            if tx is not None:
                self.hold(source, target, amount) if pending else self.post(source, target, amount)
            return self.remember(tx, Tx("burn", amount, source, target, org, pending))

        @rule(target=transactions, org=st.integers(0, 1), pair=st.permutations([0, 1, 2]),
              amount=st.integers(1, 40), pending=st.booleans())
        def transfer(self, org, pair, amount, pending):
            source, target = org * 3 + pair[0], org * 3 + pair[1]
            expected = AccountNotActive if {source, target} & self.locked else self.debit_refusal(source, amount)
            tx = self.attempt(lambda: ledger.transfer(session, self.account(org), self.wallet(source),
                                                      self.wallet(target), amount, actor=setup["actor"],
                                                      pending=pending), expected)
            if tx is not None:
                self.hold(source, target, amount) if pending else self.post(source, target, amount)
            return self.remember(tx, Tx("transfer", amount, source, target, org, pending))

        @rule(target=transactions, tx_id=transactions,
              part=st.sampled_from(["full", "one", "half", "all", "zero", "over"]))
        def capture(self, tx_id, part):
            original = self.txs[tx_id]
            amount = {"full": None, "one": 1, "half": max(1, original.amount // 2), "all": original.amount,
                      "zero": 0, "over": original.amount + 1}[part]
            captured = original.amount if amount is None else amount
            if not original.pending:
                expected = NotPending
            elif original.resolved:
                expected = AlreadyResolved
            elif not 1 <= captured <= original.amount:
                expected = ValidationFailed
            else:
                # The hold is released first, so only the supply can refuse a capture.
                expected = self.debit_refusal(original.source, captured) if not isinstance(
                    original.source, int) else None
            tx = self.attempt(lambda: ledger.capture(session, session.get(LedgerTransaction, tx_id),
                                                     actor=setup["actor"], amount=amount), expected)
            if tx is not None:
                original.resolved = True
                self.hold(original.source, original.target, original.amount, sign=-1)
                self.post(original.source, original.target, captured)
            return self.remember(tx, Tx("capture", captured, original.source, original.target, original.org))

        @rule(target=transactions, tx_id=transactions)
        def void(self, tx_id):
            original = self.txs[tx_id]
            expected = NotPending if not original.pending else AlreadyResolved if original.resolved else None
            tx = self.attempt(lambda: ledger.void(session, session.get(LedgerTransaction, tx_id),
                                                  actor=setup["actor"]), expected)
            if tx is not None:
                original.resolved = True
                self.hold(original.source, original.target, original.amount, sign=-1)
            return self.remember(tx, Tx("void", original.amount, original.source, original.target, original.org))

        @rule(target=transactions, tx_id=transactions)
        def revert(self, tx_id):
            original = self.txs[tx_id]
            voids = False
            if original.kind in ("revert", "void"):
                expected = NotRevertible
            elif original.pending:
                expected, voids = (AlreadyResolved if original.resolved else None), True
            elif original.reverted:
                expected = AlreadyResolved
            else:
                expected = self.debit_refusal(original.target, original.amount)
            tx = self.attempt(lambda: ledger.revert(session, session.get(LedgerTransaction, tx_id),
                                                    actor=setup["actor"]), expected)
            if tx is None:
                return multiple()
            if voids:
                original.resolved = True
                self.hold(original.source, original.target, original.amount, sign=-1)
                return self.remember(tx, Tx("void", original.amount, original.source, original.target,
                                            original.org))
            original.reverted = True
            self.post(original.target, original.source, original.amount)
            return self.remember(tx, Tx("revert", original.amount, original.target, original.source, original.org))

        @rule(w=st.sampled_from([2, 5]))
        def toggle_lock(self, w):
            member = session.get(members.Member, setup["members"][w])
            locked = w in self.locked
            members.update_member(session, member, actor=setup["actor"],
                                  account_status="ACTIVE" if locked else "LOCKED")
            self.locked.symmetric_difference_update({w})

        @rule(w=st.integers(0, 2), other=st.integers(3, 5), amount=st.integers(1, 50))
        def transfer_across_organisations(self, w, other, amount):
            request = TransferRequest(amount=amount, ledger_account_id=self.account(0).id,
                                      from_wallet_id=setup["wallets"][w], to_wallet_id=setup["wallets"][other])
            self.attempt(lambda: points.post_transaction(session, setup["org_ids"][0], request,
                                                         actor=setup["actor"]), NotFound)

        def keyed_request(self, kind: str, w: int, amount: int, key: str) -> TransferRequest:
            wallet_id = setup["wallets"][w]
            return TransferRequest(amount=amount, ledger_account_id=self.account(self.org_of(w)).id,
                                   to_wallet_id=wallet_id if kind == "mint" else None,
                                   from_wallet_id=wallet_id if kind == "burn" else None,
                                   reason=Reason(system_unique_key=key))

        @rule(target=keys, w=st.integers(0, 5), kind=st.sampled_from(["mint", "burn"]), amount=st.integers(1, 60))
        def keyed(self, w, kind, amount):
            """A movement under a new systemUniqueKey: it runs like any other."""
            org = self.org_of(w)
            key = f"key-{len(self.keys)}"
            source, target = ((ISS, org), w) if kind == "mint" else (w, (BURN, org))
            expected = AccountNotActive if w in self.locked else self.debit_refusal(source, amount)
            movement = self.attempt(lambda: points.post_transaction(
                session, setup["org_ids"][org], self.keyed_request(kind, w, amount, key), actor=setup["actor"]),
                expected)
            if movement is None:
                return multiple()
            [tx] = movement.transactions
            assert not movement.replayed
            self.post(source, target, amount)
            self.txs[tx.id] = Tx(kind, amount, source, target, org)
            self.keys[(org, key)] = ((kind, w, amount), tx.id)
            return (org, key)

        @rule(key=keys, same=st.booleans())
        def replay(self, key, same):
            """The same key again: with the same body the first transaction comes back and nothing is written,
            whatever happened since (a locked account, a spent balance); with another body it is refused."""
            (kind, w, amount), tx_id = self.keys[key]
            request = self.keyed_request(kind, w, amount if same else amount + 1, key[1])
            count_before = self.transaction_count()
            movement = self.attempt(lambda: points.post_transaction(session, setup["org_ids"][key[0]], request,
                                                                    actor=setup["actor"]),
                                    None if same else IdempotencyKeyReused)
            assert self.transaction_count() == count_before
            if movement is not None:
                runs["replays"] += 1
                assert movement.replayed and [tx.id for tx in movement.transactions] == [tx_id]

        @rule(target=transactions, org=st.integers(0, 1), legs=st.lists(
            st.tuples(st.sampled_from(["mint", "burn", "transfer"]), st.permutations([0, 1, 2]),
                      st.integers(1, 60)), min_size=2, max_size=4))
        def transaction_set(self, org, legs):
            """All legs or none: the model applies the legs in order and stops at the first refused one."""
            balance, minted, burned = dict(self.balance), list(self.minted), list(self.burned)
            requests, parties, expected, failing = [], [], None, None
            for index, (kind, pair, amount) in enumerate(legs):
                w, other = org * 3 + pair[0], org * 3 + pair[1]
                source, target = {"mint": ((ISS, org), w), "burn": (w, (BURN, org)), "transfer": (w, other)}[kind]
                parties.append((kind, source, target, amount))
                requests.append(TransferRequest(amount=amount, ledger_account_id=self.account(org).id,
                                                from_wallet_id=setup["wallets"][w] if kind != "mint" else None,
                                                to_wallet_id=setup["wallets"][target] if kind != "burn" else None))
                if expected is None:
                    movers = {w, other} if kind == "transfer" else {w}
                    expected = AccountNotActive if movers & self.locked else self.debit_refusal(source, amount)
                    if expected is None:
                        self.post(source, target, amount)
                    else:
                        failing = index
            if expected is not None:  # undo the legs the model applied before the refused one
                self.balance, self.minted, self.burned = balance, minted, burned
                self.postings -= failing
            count_before = self.transaction_count()
            movement = self.attempt(lambda: points.post_transaction_set(
                session, setup["org_ids"][org], self.account(org).ledger_id, requests, actor=setup["actor"]),
                expected, field_prefix=None if failing is None else f"transactions[{failing}]")
            if movement is None:
                assert self.transaction_count() == count_before  # nothing of the set is left
                return multiple()
            runs["sets"] += 1
            assert len(movement.transactions) == len(legs)
            assert len({tx.set_id for tx in movement.transactions}) == 1 and movement.transactions[0].set_id
            ids = []
            for tx, (kind, source, target, amount) in zip(movement.transactions, parties):
                ids.append(self.remember(tx, Tx(kind, amount, source, target, org)))
            return multiple(*ids)

        def transaction_count(self) -> int:
            return session.scalar(queries["transaction_count"])

        # --- invariants ---------------------------------------------------------------------------

        @invariant()
        def ledger_holds_together(self):
            runs["checks"] += 1
            rows = {r.id: r for r in session.execute(queries["wallets"])}
            entry_sums = dict(session.execute(queries["entry_sums"]).all())
            held = dict(session.execute(queries["held"]).all())
            incoming = dict(session.execute(queries["incoming"]).all())
            account_sums = dict(session.execute(queries["account_sums"]).all())
            shard_sums = dict(session.execute(queries["shard_sums"]).all())
            for wallet_id, row in rows.items():
                # A system wallet's balance is its row and its shards (the issuance wallet of the account with a
                # maximum supply keeps it all on the row, where the limit is checked).
                assert row.balance + (shard_sums.get(wallet_id) or 0) == (entry_sums.get(wallet_id) or 0), \
                    f"wallet {wallet_id}: balance != entries"
                if row.kind == ledger.MEMBER or wallet_id == setup["capped_issuance"]:
                    assert wallet_id not in shard_sums, f"wallet {wallet_id} has shards"
                if row.kind == ledger.MEMBER:
                    assert row.held == (held.get(wallet_id) or 0), f"wallet {wallet_id}: held != pending debits"
                    assert row.pending_in == (incoming.get(wallet_id) or 0)
                    assert row.balance - row.held >= 0 and row.held >= 0, f"wallet {wallet_id} negative"
                else:
                    assert row.held == 0
            for org, account in enumerate(setup["accounts"]):
                totals = ledger.totals(session, account.id)
                assert totals["minted"] - totals["burned"] == totals["memberBalances"]
                assert (totals["minted"], totals["burned"]) == (self.minted[org], self.burned[org])
                if org == 1:
                    assert totals["minted"] <= MAX_SUPPLY
                assert (account_sums.get(account.id) or 0) == 0, f"entries of account {account.id} do not sum to 0"
            for w, wallet_id in enumerate(setup["wallets"]):
                row = rows[wallet_id]
                assert (row.balance, row.held, row.pending_in) == (self.balance[w], self.held[w], self.incoming[w]), \
                    f"wallet {w} differs from the model"

        @invariant()
        def entries_and_transactions_are_never_changed(self):
            """Append-only: every entry and transaction seen before is still there, unchanged."""
            entries = {row[0]: tuple(row[1:]) for row in session.execute(queries["entries"])}
            txs = {row[0]: tuple(row[1:]) for row in session.execute(queries["transactions"])}
            for seen, now, what in ((self.entries_seen, entries, "entry"), (self.txs_seen, txs, "transaction")):
                for row_id, values in seen.items():
                    assert now.get(row_id) == values, f"{what} {row_id} changed: {values} -> {now.get(row_id)}"
                seen.update(now)
            assert len(entries) == 2 * self.postings, "every posting writes exactly two entries"
            assert set(txs) == set(self.txs), "transactions differ from the ones the model made"

    return LedgerMachine


def invariant_queries(setup) -> dict:
    """Built once: building SQLAlchemy statements costs more than running them here."""
    wallet_ids, account_ids = setup["all_wallets"], [a.id for a in setup["accounts"]]
    resolution = aliased(LedgerTransaction)
    unresolved = (select(LedgerTransaction.from_wallet_id, LedgerTransaction.to_wallet_id, LedgerTransaction.amount)
                  .where(LedgerTransaction.status == ledger.PENDING,
                         LedgerTransaction.ledger_account_id.in_(account_ids),
                         ~select(resolution.id).where(resolution.pending_id == LedgerTransaction.id).exists())
                  .subquery())
    in_accounts = LedgerTransaction.ledger_account_id.in_(account_ids)
    return {
        "entries": select(LedgerEntry.id, LedgerEntry.transaction_id, LedgerEntry.wallet_id, LedgerEntry.amount,
                          LedgerEntry.created_at).where(LedgerEntry.wallet_id.in_(wallet_ids)),
        "transactions": select(LedgerTransaction.id, LedgerTransaction.type, LedgerTransaction.status,
                               LedgerTransaction.amount, LedgerTransaction.from_wallet_id,
                               LedgerTransaction.to_wallet_id, LedgerTransaction.pending_id,
                               LedgerTransaction.reverts_id, LedgerTransaction.set_id,
                               LedgerTransaction.system_unique_key, LedgerTransaction.created_at).where(in_accounts),
        "transaction_count": select(func.count()).select_from(LedgerTransaction).where(in_accounts),
        "wallets": select(Wallet.id, Wallet.kind, Wallet.balance, Wallet.held, Wallet.pending_in)
        .where(Wallet.id.in_(wallet_ids)),
        "entry_sums": select(LedgerEntry.wallet_id, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.wallet_id.in_(wallet_ids)).group_by(LedgerEntry.wallet_id),
        "held": select(unresolved.c.from_wallet_id, func.sum(unresolved.c.amount))
        .group_by(unresolved.c.from_wallet_id),
        "incoming": select(unresolved.c.to_wallet_id, func.sum(unresolved.c.amount))
        .group_by(unresolved.c.to_wallet_id),
        "shard_sums": select(WalletShard.wallet_id, func.sum(WalletShard.balance))
        .where(WalletShard.wallet_id.in_(wallet_ids)).group_by(WalletShard.wallet_id),
        "account_sums": select(Wallet.ledger_account_id, func.sum(LedgerEntry.amount))
        .join(Wallet, Wallet.id == LedgerEntry.wallet_id).where(Wallet.ledger_account_id.in_(account_ids))
        .group_by(Wallet.ledger_account_id),
    }


def test_ledger_invariants_hold_under_random_movements(session, backend):
    setup = {"runs": {"examples": 0, "steps": 0, "refused": 0, "checks": 0, "replays": 0, "sets": 0, "errors": {}},
             "wallets": [], "members": [],
             "accounts": [], "org_ids": [], "all_wallets": []}
    for index in range(2):
        bundle = make_org(session, name=f"Prop{index}")
        book = session.get(ledger.Ledger, bundle.program.ledger_id)
        account = ledger.create_account(session, book, name="Property points",
                                        max_supply=MAX_SUPPLY if index == 1 else None)
        setup["accounts"].append(account)
        setup["org_ids"].append(bundle.id)
        setup.setdefault("actor", bundle.actor)
        for _ in range(3):
            member = make_member(session, bundle)
            setup["members"].append(member.id)
            setup["wallets"].append(ledger.member_wallet(session, account, member.id).id)
        setup["all_wallets"] += setup["wallets"][-3:] + [
            ledger.system_wallet(session, account, kind).id for kind in (ledger.ISSUANCE, ledger.BURNED)]
    setup["capped_issuance"] = ledger.system_wallet(session, setup["accounts"][1], ledger.ISSUANCE).id
    session.flush()
    machine = build_machine(session, setup)
    run_state_machine_as_test(machine, settings=settings(
        **PROFILE, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]))
    runs = setup["runs"]
    print(f"\n[{backend}] hypothesis ledger machine: {runs['examples']} examples, {runs['steps']} movements "
          f"({runs['refused']} refused as predicted: {runs['errors']}; {runs['replays']} replays, "
          f"{runs['sets']} sets posted), {runs['checks']} invariant checks")
    assert runs["examples"] >= PROFILE["max_examples"] // 2
    assert runs["refused"] > 0 and runs["steps"] > runs["refused"]
    assert runs["replays"] > 0 and runs["sets"] > 0 and runs["errors"].get("IdempotencyKeyReused")
