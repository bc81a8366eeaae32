#!/usr/bin/env python3
"""Break each rule that guards money and limits, one at a time, and show which test catches it.

    make mutate                          # every mutation (starts PostgreSQL like make test)
    TEST_PG_URL=... python scripts/mutate.py [--only NAME ...] [--list] [--keep]

For each mutation the script copies the working tree (tracked and untracked,
not ignored files, as they are now) to a temporary folder once, applies the
mutation's textual replacements there, runs the mutation's own small test
selection against SQLite and PostgreSQL, and restores the file. The working
tree is never touched. Each replacement is found by a source snippet that must
occur exactly once; when one is missing (the code moved), the script stops
before running anything and names it, so the snippet can be updated.

A mutation is "killed" when at least one selected test fails (or the run times
out); the tests that failed are listed. "SURVIVED" means the suite did not
notice the broken rule: write the missing test. Before the mutations, the
union of all selections runs once unmutated and must pass, so that a kill
means something. The ledger property test runs its `quick` profile here.

Exit status: 0 every mutation killed, 1 one survived, 2 a snippet is missing
or the unmutated run fails.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 900  # seconds for one mutation's test run; a hang counts as caught, and says so


@dataclass
class Mutation:
    name: str
    rule: str
    path: str
    replacements: list[tuple[str, str]]  # (snippet that occurs exactly once, what replaces it)
    tests: list[str]  # pytest node ids or paths, relative to the tree
    note: str = ""
    extra_paths: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # more files, same rule

    def edits(self) -> dict[str, list[tuple[str, str]]]:
        return {self.path: self.replacements, **self.extra_paths}


LEDGER = "portal/domain/ledger.py"
COUPONS = "portal/domain/coupons/services.py"
IDEMPOTENCY = "portal/domain/idempotency.py"
CAMPAIGNS = "portal/domain/campaigns.py"

LIVE_LIMITS = "tests/concurrency/test_live_limits.py"
COUPON_LIMITS = "tests/concurrency/test_coupon_limits.py"

MUTATIONS = [
    Mutation(
        "balance-condition", "a burn or transfer never takes more than the wallet's available points",
        LEDGER, [("stmt = stmt.where(Wallet.balance - Wallet.held >= -delta if wallet.kind == MEMBER\n",
                  "stmt = stmt.where(Wallet.id == Wallet.id if wallet.kind == MEMBER\n")],
        ["tests/domain/test_ledger.py::test_burn_beyond_the_balance_is_refused_and_writes_nothing",
         "tests/domain/test_ledger.py::test_many_small_burns_stop_at_zero",
         f"{LIVE_LIMITS}::test_forty_parallel_burns_from_seventy_points"],
        "the ledger's conditional UPDATE without its balance condition (the CHECK constraint remains)"),
    Mutation(
        "hold-condition", "a hold (pending burn or transfer) never reserves more than the available points",
        LEDGER, [("stmt = (update(Wallet).where(Wallet.id == source.id, Wallet.balance - Wallet.held >= amount)",
                  "stmt = (update(Wallet).where(Wallet.id == source.id)")],
        ["tests/domain/test_ledger.py::test_pending_burn_holds_then_full_capture_posts",
         "tests/domain/test_ledger_properties.py"],
        "the hold's conditional UPDATE without its balance condition"),
    Mutation(
        "max-supply", "minting never exceeds the account's maximum supply",
        LEDGER, [("else Wallet.balance + delta >= -account.max_supply)", "else Wallet.id == Wallet.id)")],
        ["tests/domain/test_ledger.py::test_max_supply_caps_what_is_minted",
         "tests/domain/test_ledger.py::test_max_supply_is_checked_again_when_a_pending_mint_is_captured"],
        "the issuance wallet's conditional UPDATE without the supply condition"),
    Mutation(
        "batch-funds", "a batch item never takes more than its wallet has (or mints past the maximum supply)",
        LEDGER, [("            if left < (0 if source.kind == MEMBER else -p.account.max_supply):\n",
                  "            if False:\n")],
        ["tests/domain/test_ledger.py::test_a_batch_item_spends_points_an_earlier_item_gave_and_a_failed_set_gives_its_points_back",
         "tests/domain/test_ledger.py::test_a_batch_keeps_the_maximum_supply"],
        "the batch's in-memory funds check (the batch writes unconditionally, under its row locks)"),
    Mutation(
        "pending-unique", "a pending transaction is captured or voided once",
        LEDGER, [('    pending_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"), '
                  'unique=True, default=None)',
                  '    pending_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"), '
                  'default=None)')],
        ["tests/domain/test_ledger.py::test_the_database_refuses_a_second_resolution_even_without_the_check",
         f"{LIVE_LIMITS}::test_parallel_captures_and_voids_of_one_hold_resolve_it_once"],
        "no unique pending_id: only the read-then-write check is left, which concurrent captures both pass"),
    Mutation(
        "pending-check-and-unique", "a pending transaction is captured or voided once",
        LEDGER, [('    pending_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"), '
                  'unique=True, default=None)',
                  '    pending_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"), '
                  'default=None)'),
                 ("    if session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.pending_id == tx.id)):\n"
                  "        raise AlreadyResolved(\"Transaction was already captured or voided\", "
                  "field=\"ledgerTransactionId\")\n", "")],
        ["tests/domain/test_ledger.py::test_a_pending_transaction_is_resolved_at_most_once"],
        "both guards gone: the rule itself is broken"),
    Mutation(
        "coupon-global-limit", "a coupon book never hands out more than maxCouponCount coupons",
        COUPONS, [("               .where(CouponBook.max_coupon_count.is_(None) | "
                   "(CouponBook.assigned_count < CouponBook.max_coupon_count))\n", "")],
        [f"{COUPON_LIMITS}::test_global_limit_of_50_with_500_requests_from_100_members",
         "tests/domain/test_coupons.py::test_global_limit",
         "tests/api/test_coupons_api.py::test_strict_mode_through_the_api"],
        "the book's conditional UPDATE without the global-limit condition (the unlocked pre-check remains, "
        "so one coupon at a time is still refused where requests never overlap)"),
    Mutation(
        "coupon-per-member-limit", "a member never holds more than maxAssignedPerMember coupons of a book",
        COUPONS, [("        per_member = per_member.where(AccountCoupon.assigned_count < "
                   "book.max_assigned_per_member)\n", "        pass\n")],
        ["tests/domain/test_coupons.py::test_per_member_limit",
         f"{COUPON_LIMITS}::test_per_member_limit_of_1_with_50_requests"],
        "the account coupon's conditional UPDATE without the per-member condition (the pre-check remains)"),
    Mutation(
        "single-use-code", "a code of the pool is handed out at most maxAssignedPerCoupon times (once by default)",
        COUPONS, [("    room = (CouponCode.assigned_count < book.max_assigned_per_coupon\n"
                   "            if book.max_assigned_per_coupon is not None else true())\n",
                   "    room = true()\n")],
        ["tests/domain/test_coupons.py::test_single_use_code_and_shared_code",
         f"{COUPON_LIMITS}::test_single_use_code_is_used_once_by_200_parallel_requests"],
        "the code's conditional UPDATE without its room condition"),
    Mutation(
        "idempotency-unique", "one operation per (organisation, systemUniqueKey)",
        IDEMPOTENCY, [('    __table_args__ = (UniqueConstraint("organization_id", "key"),)\n', "")],
        [f"{LIVE_LIMITS}::test_the_same_key_twenty_times_at_once_has_one_effect",
         f"{COUPON_LIMITS}::test_same_key_twenty_times_at_once_uses_once"],
        "no unique index on the key: only the read-then-insert check is left"),
    Mutation(
        "idempotency-fingerprint", "a key sent again with another body is refused",
        IDEMPOTENCY, [("    if existing.fingerprint != print_:\n", "    if False:\n")],
        ["tests/domain/test_ledger.py::test_same_key_other_params_is_refused",
         "tests/domain/test_coupons.py::test_same_key_replays_and_different_body_is_refused"],
        "a reused key replays whatever the body"),
    Mutation(
        "monthly-cap", "a campaign never gives a member more than its monthly points cap",
        CAMPAIGNS, [("    granted = max(0, min(requested, campaign.monthly_points_cap - counter.points))\n",
                     "    granted = requested\n")],
        ["tests/domain/test_earning.py::test_saturday_gold_campaign_at_two_locations_with_monthly_cap_across_a_month",
         "tests/concurrency/test_monthly_cap.py"],
        "the cap's arithmetic removed"),
    Mutation(
        "monthly-cap-lock", "a campaign never gives a member more than its monthly points cap",
        CAMPAIGNS, [("    counter = session.scalars(stmt.with_for_update()).first()\n",
                     "    counter = session.scalars(stmt).first()\n")],
        ["tests/concurrency/test_monthly_cap.py"],
        "the counter row read without its lock: concurrent purchases read the same total"),
]


# --- running ------------------------------------------------------------------------------------

def tree_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         check=True, capture_output=True).stdout
    return [name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]


def copy_tree(target: Path) -> None:
    for name in tree_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)


def missing_snippets(mutations: list[Mutation]) -> list[str]:
    problems = []
    for mutation in mutations:
        for path, replacements in mutation.edits().items():
            source = (ROOT / path).read_text()
            for snippet, _ in replacements:
                found = source.count(snippet)
                if found != 1:
                    problems.append(f"{mutation.name}: {path}: snippet found {found} times (must be once):\n"
                                    f"    {snippet.strip()[:160]!r}")
        for test in mutation.tests:
            if not (ROOT / test.split("::")[0]).exists():
                problems.append(f"{mutation.name}: test file {test.split('::')[0]} does not exist")
    return problems


def run_pytest(tree: Path, tests: list[str], report: Path) -> tuple[str, list[str], float]:
    """('passed' | 'failed' | 'timeout' | 'error', failing test ids, seconds)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               f"--junitxml={report}", "-o", "junit_family=xunit2", *tests]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=TIMEOUT,
                              env={"HYPOTHESIS_PROFILE": "quick", **os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    except subprocess.TimeoutExpired:
        return "timeout", [], time.monotonic() - started
    seconds = time.monotonic() - started
    failing = failed_tests(report) if report.exists() else []
    if done.returncode == 0:
        return "passed", [], seconds
    if done.returncode == 1 and failing:
        return "failed", failing, seconds
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
    return "error", [f"pytest exited {done.returncode}:\n{tail}"], seconds


def failed_tests(report: Path) -> list[str]:
    """Failing tests as `path::name (backends)`, one entry per test function."""
    backends: dict[str, list[str]] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        if case.find("failure") is None and case.find("error") is None:
            continue
        name, _, params = case.get("name", "").partition("[")
        test = f"{case.get('classname', '').replace('.', '/')}.py::{name}"
        backend = params.rstrip("]").split("-")[0]
        seen = backends.setdefault(test, [])
        if backend in ("sqlite", "postgresql") and backend not in seen:
            seen.append(backend)
    return [f"{test} ({', '.join(found)})" if found else test for test, found in backends.items()]


def apply(tree: Path, mutation: Mutation) -> dict[str, str]:
    originals = {}
    for path, replacements in mutation.edits().items():
        source = originals.setdefault(path, (tree / path).read_text())
        mutated = source
        for snippet, replacement in replacements:
            mutated = mutated.replace(snippet, replacement, 1)
        assert mutated != source, mutation.name
        (tree / path).write_text(mutated)
    return originals


def restore(tree: Path, originals: dict[str, str]) -> None:
    for path, source in originals.items():
        (tree / path).write_text(source)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these mutations only")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy of the tree")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run the selections unmutated first")
    args = parser.parse_args()

    mutations = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.only and len(mutations) != len(set(args.only)):
        print(f"unknown mutation in {args.only}; known: {[m.name for m in MUTATIONS]}", file=sys.stderr)
        return 2
    if args.list:
        for m in mutations:
            print(f"{m.name:26} {m.rule}\n{'':26} {m.path}: {m.note}\n{'':26} tests: {', '.join(m.tests)}")
        return 0
    if not os.environ.get("TEST_PG_URL"):
        print("TEST_PG_URL is unset: the mutations must also run against PostgreSQL, where requests overlap "
              "(make mutate starts a throwaway server).", file=sys.stderr)
        return 2
    problems = missing_snippets(mutations)
    if problems:
        print("The code a mutation breaks has moved; update scripts/mutate.py:\n" + "\n".join(problems),
              file=sys.stderr)
        return 2

    tree = Path(tempfile.mkdtemp(prefix="portal-mutate-"))
    started = time.monotonic()
    try:
        copy_tree(tree)
        print(f"copy of the working tree: {tree}", flush=True)
        if not args.skip_baseline:
            selection = sorted({test for m in mutations for test in m.tests})
            outcome, failing, seconds = run_pytest(tree, selection, tree / "baseline.xml")
            print(f"unmutated: {len(selection)} selections {outcome} in {seconds:.0f} s", flush=True)
            if outcome != "passed":
                print("The selected tests fail without any mutation; fix them first:\n  " + "\n  ".join(failing),
                      file=sys.stderr)
                return 2
        results = []
        for mutation in mutations:
            originals = apply(tree, mutation)
            try:
                outcome, failing, seconds = run_pytest(tree, mutation.tests, tree / f"{mutation.name}.xml")
            finally:
                restore(tree, originals)
            killed = outcome in ("failed", "timeout")
            verdict = ("killed by " + ", ".join(failing) if outcome == "failed" else
                       "killed (the run hung past the timeout)" if outcome == "timeout" else
                       "SURVIVED" if outcome == "passed" else "ERROR " + "; ".join(failing))
            results.append((mutation, killed, verdict, seconds))
            print(f"{mutation.name:26} {seconds:5.0f} s  {verdict}", flush=True)
    finally:
        if args.keep:
            print(f"kept {tree}")
        else:
            shutil.rmtree(tree, ignore_errors=True)

    print(f"\n| rule | mutation | result |\n| --- | --- | --- |")
    for mutation, _, verdict, _ in results:
        print(f"| {mutation.rule} | `{mutation.name}`: {mutation.note} | {verdict} |")
    survived = [m.name for m, killed, _, _ in results if not killed]
    print(f"\n{len(results) - len(survived)} of {len(results)} mutations killed in "
          f"{time.monotonic() - started:.0f} s" + (f"; SURVIVED: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
