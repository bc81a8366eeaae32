"""Failed-attempt throttling kept in the database, so every app server and
worker shares the same count.

Invariants:
- A scope/key pair is refused once it has `limit` failures inside the window;
  refusals do not themselves count.
- Sign-in (console and member portal, `check_login`): failures are limited per
  account and address together (a hard limit: that address is refused for
  that account, even with the right password) and per address over all
  accounts. An account is never locked for everybody: when it collects many
  failures a minute from anywhere, it is slowed down, which refuses only the
  addresses that already failed for it. Its owner signing in from another
  address is always let through to the password check.
- Counting and checking are atomic: `check_login` first takes a lock on the
  account and then one on the address (`lock_and_count`, always in that
  order), held until the transaction ends, and reads the counts after, so of
  parallel attempts for one account, or from one address for any accounts,
  exactly `limit` reach the password check. PostgreSQL: transaction-scoped
  advisory locks; SQLite: every transaction begins with BEGIN IMMEDIATE
  (portal/db.py), which already serialises writers.
- Far from the limit, side by side (PostgreSQL, `lock_and_count`): the
  address's count (sign-in) and the key's and organisation's (coupon codes)
  have SLOTS (16) locks each. When the count read by the locking statement
  plus H = SLOTS is at most the limit, a transaction takes one slot, drawn at
  random; else every slot, in order. A slot has one holder at a time, so at
  most H transactions are in flight far from the limit, and each adds at
  most one failure. The count that decides is read by the next statement,
  whose snapshot is taken after the locks were granted:
  * every slot held: exact, as every other holder has ended and none starts
    before this transaction does;
  * one slot, count + H <= limit: let through. Take the last one-slot holder
    to read: the failures missing from its count are those of transactions
    in flight then, at most H with itself; so the total stays within the
    limit. A holder of every slot waited until every one-slot holder ended;
  * one slot, count >= limit: refused (the count is a lower bound);
  * one slot, limit - H < count < limit (failures were committed between the
    two statements): undecided. Taking the other slots could deadlock with
    another doing the same: the locks were taken after a savepoint, so
    rolling back to it lets go of them, and every slot is taken, then
    counted again (three more statements, only then).
  So sign-ins from one address (an office, a carrier's CGNAT) and a till's
  code uses run side by side (waiting only for one that drew the same slot,
  1 in 16) while the address or key is at least 16 below its limit, and
  one at a time nearer. The account's and the member's counts are always
  locked exclusively (one lock).
- Coupon codes (coupons/services.py): refused codes are limited per member,
  per acting key or user, and per organisation.
- Counted requests (reset and signup mails, signups, signup-form submissions,
  referral links: `count_attempt`) are serialised the same way per scope/key:
  of N parallel requests exactly `limit` are let through.

The limits live in LIMITS; create_app() sets them from config.py.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Index, String, bindparam, delete, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column, scoped_session

from .base import Base, utcnow
from .errors import DomainError

HOUR, MINUTE = dt.timedelta(hours=1), dt.timedelta(minutes=1)


class TooManyAttempts(DomainError):
    """A scope and key already have their LIMITS' count of failures (or counted requests) within the window."""

    status = 429
    code = "too_many_attempts"
    title = "Too many attempts"


class FailedAttempt(Base):
    """One failed (or counted) attempt in a scope (`member-login-address`...) for a key; the key (an email, an
    address) is personal data, so only its SHA-256 digest is kept."""

    __tablename__ = "failed_attempts"
    __table_args__ = (Index("ix_failed_attempts_scope_key_at", "scope", "key_hash", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(50))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Limit:
    attempts: int
    window: dt.timedelta


# Defaults; create_app() puts in the values from config.py (see `configure`).
LIMITS: dict[str, Limit] = {
    "login-account-address": Limit(10, HOUR),   # one account from one address
    "login-address": Limit(300, HOUR),          # one address over all accounts (an office shares one)
    "login-account-slowdown": Limit(20, MINUTE),  # one account from anywhere: then only new addresses may try
    "code-member": Limit(10, HOUR),             # refused coupon codes for one member
    "code-actor": Limit(300, HOUR),             # ... asked for by one API key, staff user or client
    "code-organization": Limit(1000, HOUR),     # ... in one organisation (keys and staff together)
}


def configure(attempts: dict[str, int]) -> None:
    """Set the number of attempts of named limits (windows stay as they are)."""
    for name, count in attempts.items():
        LIMITS[name] = Limit(int(count), LIMITS[name].window)


def _hash(key: str) -> str:
    # Emails and addresses are personal data: keep only a digest.
    return hashlib.sha256(key.strip().lower().encode()).hexdigest()


def serialize(session: Session, scope: str, key: str) -> None:
    """Wait until no other transaction holds `scope`/`key`, then hold it until this transaction ends,
    so that a count read afterwards stays true until our own failure is written."""
    serialize_all(session, [(scope, key)])


def serialize_all(session: Session, pairs: list[tuple[str, str]]) -> None:
    """`serialize` each (scope, key), in the order given, in one statement (callers that take several
    take them in one fixed order, so that two of them never wait for each other)."""
    if pairs and session.get_bind().dialect.name == "postgresql":
        session.execute(_locks((False,) * len(pairs)), {f"id{n}": _lock_id(scope, key)
                                                        for n, (scope, key) in enumerate(pairs)})
    # SQLite: the transaction began with BEGIN IMMEDIATE, so no other writer runs until it ends.


def lock_and_count(session: Session, locks: list[tuple[str, str, str | None]],
                   counts: list[tuple[str, str, dt.timedelta]]) -> list[int]:
    """Take the locks (scope, key, limit name or None), in the order given, then read the failures of each
    (scope, key, window) in `counts`, which must include every lock with a limit name. A lock with a limit name
    is held by one of its SLOTS while far from that limit, by all of them near it (the module docstring); None:
    one lock, always. The counts are kept for `check_limits` in this transaction."""
    slotted = session.get_bind().dialect.name == "postgresql" and any(name for _, _, name in locks)
    if not slotted:
        serialize_all(session, [(scope, key) for scope, key, _ in locks])
        return _remember(session, counts, _read_counts(session, counts))
    # The locks taken far from a limit can be let go of again (below) by rolling back to a savepoint SQLAlchemy
    # does not know of: nothing pending may be written inside it, or that rollback would undo a row the session
    # believes saved. The savepoint is not released (a statement more); the rest of the transaction runs in it.
    session.flush()
    session.execute(_SAVEPOINT)
    params, now = {}, utcnow()
    for n, (scope, key, name) in enumerate(locks):
        if name is None:
            params[f"id{n}"] = _lock_id(scope, key)
            continue
        params.update({f"id{n}": _lock_id(scope, f"{key}\x1f{_slot()}"),
                       f"ids{n}": [_lock_id(scope, f"{key}\x1f{slot}") for slot in range(SLOTS)],
                       f"scope{n}": scope, f"key{n}": _hash(key), f"since{n}": now - LIMITS[name].window,
                       f"limit{n}": LIMITS[name].attempts})
    statement = _locks(tuple(name is not None for _, _, name in locks))
    modes = session.execute(statement, {**params, "bound": SLOTS}).one()
    found = _read_counts(session, counts)
    failed = {(scope, key): n for (scope, key, _), n in zip(counts, found)}
    if any(mode == "s" and failed[scope, key] < LIMITS[name].attempts < failed[scope, key] + SLOTS
           for (scope, key, name), mode in zip(locks, modes)):
        # Near the limit after all (failures committed since the locking statement read its count): one slot
        # cannot be widened to all (two such would deadlock), so let go of every lock taken here (a lock taken
        # after a savepoint ends when it is rolled back to) and take them again, every slot of each.
        session.execute(_ROLLBACK_TO_SAVEPOINT)
        session.execute(statement, {**params, "bound": _ALWAYS_NEAR})
        found = _read_counts(session, counts)
    return _remember(session, counts, found)


# A count that may be held far from its limit has SLOTS locks: a transaction far from the limit holds one of them,
# chosen at random (two transactions of one key wait for each other only when they draw the same one); one near
# it holds them all. So at most SLOTS transactions are in flight far from the limit at once: the bound H.
SLOTS = 16
_ALWAYS_NEAR = 10**12


def _slot() -> int:
    return random.randrange(SLOTS)


_SAVEPOINT, _ROLLBACK_TO_SAVEPOINT = text("SAVEPOINT throttle_locks"), text("ROLLBACK TO SAVEPOINT throttle_locks")
_COUNTED = "throttle.counted"  # session.info: (transaction, {(scope, key, window): failures read under the lock})


def _lock_id(scope: str, key: str) -> int:
    # Advisory locks take a bigint: the first 8 bytes of the digest, signed.
    return int.from_bytes(bytes.fromhex(_hash(f"{scope}\x1f{key}")[:16]), "big", signed=True)


@cache
def _locks(slotted: tuple[bool, ...]):
    """The locking statement: per lock 's' (one slot taken) or 'x' (the lock, or every slot of it); when no lock
    has slots, only the exclusive locks. PostgreSQL evaluates a select list left to right, of a CASE only the
    branch taken, and unnest in order, so the locks are taken in the order given. The count that chooses is read
    before the lock is granted (the statement's snapshot): it only chooses; the count that decides is read by the
    next statement."""
    if not any(slotted):
        return text("SELECT " + ", ".join(f"pg_advisory_xact_lock(:id{n})" for n in range(len(slotted))))
    columns = []
    for n, has_slots in enumerate(slotted):
        if not has_slots:
            columns.append(f"(SELECT 'x' FROM pg_advisory_xact_lock(:id{n}))")  # nosec B608 (numbered binds only)
            continue
        count = (f"(SELECT count(*) FROM failed_attempts WHERE scope = :scope{n} AND key_hash = :key{n} "  # nosec B608
                 f"AND created_at >= :since{n})")
        every_slot = (f"(SELECT 'x' FROM (SELECT count(*) FROM (SELECT pg_advisory_xact_lock(id) "  # nosec B608
                      f"FROM unnest(CAST(:ids{n} AS bigint[])) AS id) AS taken) AS every_slot)")
        columns.append(f"CASE WHEN {count} + CAST(:bound AS bigint) <= :limit{n} "  # nosec B608
                       f"THEN (SELECT 's' FROM pg_advisory_xact_lock(:id{n})) ELSE {every_slot} END")
    return text(f"SELECT {', '.join(columns)}")  # nosec B608 (built above from numbered binds)


def _transactions(session: Session) -> tuple:
    """The root transaction in progress and the innermost one: the locks, and the counts read under them, live as
    long as the root does, unless a savepoint they were taken in is rolled back (which lets go of them)."""
    session = session.registry() if isinstance(session, scoped_session) else session
    root = session.get_transaction()
    return root, session.get_nested_transaction() or root


def _remember(session: Session, counts: list[tuple[str, str, dt.timedelta]], found: list[int]) -> list[int]:
    session.info[_COUNTED] = (*_transactions(session), dict(zip(counts, found)))
    return found


def failures(session: Session, scope: str, key: str, window: dt.timedelta) -> int:
    since = utcnow() - window
    return session.scalar(select(func.count()).select_from(FailedAttempt).where(
        FailedAttempt.scope == scope, FailedAttempt.key_hash == _hash(key), FailedAttempt.created_at >= since)) or 0


def check(session: Session, scope: str, key: str, *, limit: int, window: dt.timedelta,
          message: str = "Too many failed attempts; try again later") -> None:
    """Raise TooManyAttempts when `key` already failed `limit` times within `window`."""
    if failures(session, scope, key, window) >= limit:
        raise TooManyAttempts(message)


def check_limit(session: Session, scope: str, key: str, name: str, message: str) -> None:
    """`check` with the configured limit `name` (a key of LIMITS)."""
    limit = LIMITS[name]
    check(session, scope, key, limit=limit.attempts, window=limit.window, message=message)


def check_limits(session: Session, checks: list[tuple[str, str, str, str]]) -> None:
    """`check_limit` for each (scope, key, limit name, message), all counted in one statement (or the counts
    `lock_and_count` read under its locks in this transaction); the first limit reached, in the order given,
    raises."""
    wanted = [(scope, key, LIMITS[name].window) for scope, key, name, _ in checks]
    counted = session.info.get(_COUNTED)
    if (counted is not None and counted[0] is _transactions(session)[0] and counted[1].is_active
            and all(c in counted[2] for c in wanted)):
        found = [counted[2][c] for c in wanted]
    else:
        found = _read_counts(session, wanted)
    for (_, _, name, message), failed in zip(checks, found):
        if failed >= LIMITS[name].attempts:
            raise TooManyAttempts(message)


def _read_counts(session: Session, counts: list[tuple[str, str, dt.timedelta]]) -> list[int]:
    """The failures of each (scope, key) within its window, in one statement."""
    now, params = utcnow(), {}
    for n, (scope, key, window) in enumerate(counts):
        params.update({f"scope{n}": scope, f"key{n}": _hash(key), f"since{n}": now - window})
    return [failed or 0 for failed in session.execute(_counts(len(counts)), params).one()]


@cache
def _counts(n: int):
    """SELECT of n failure counts (scope{i}, key{i}, since{i}), built once per n."""
    return select(*[select(func.count()).select_from(FailedAttempt).where(
        FailedAttempt.scope == bindparam(f"scope{i}"), FailedAttempt.key_hash == bindparam(f"key{i}"),
        FailedAttempt.created_at >= bindparam(f"since{i}")).scalar_subquery() for i in range(n)])


def count_attempt(session: Session, scope: str, key: str, *, limit: int, window: dt.timedelta,
                  message: str = "Too many attempts; try again later") -> None:
    """Count one attempt of `key` (serialised, so the count read stays true until ours is written);
    raise TooManyAttempts, counting nothing, when it already made `limit` within `window`."""
    if not under_limit(session, scope, key, limit=limit, window=window):
        raise TooManyAttempts(message)


def under_limit(session: Session, scope: str, key: str, *, limit: int, window: dt.timedelta) -> bool:
    """Count one attempt of `key` if it made fewer than `limit` within `window` (serialised); whether it did."""
    serialize(session, scope, key)
    if failures(session, scope, key, window) >= limit:
        return False
    record_failure(session, scope, key)
    return True


def record_failure(session: Session, scope: str, key: str) -> None:
    session.info.pop(_COUNTED, None)  # the counts read under the locks no longer hold
    session.add(FailedAttempt(scope=scope, key_hash=_hash(key)))
    session.flush()


def clear(session: Session, scope: str, key: str) -> None:
    """Forget failures after a success."""
    session.info.pop(_COUNTED, None)
    session.execute(delete(FailedAttempt).where(FailedAttempt.scope == scope, FailedAttempt.key_hash == _hash(key)))


def prune(session: Session, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    return session.execute(delete(FailedAttempt).where(FailedAttempt.created_at < utcnow() - older_than)).rowcount


# --- sign-in ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoginScopes:
    """Where one sign-in form counts its failures: per account, per address, per account and address."""

    account: str
    address: str
    pair: str


def check_login(session: Session, scopes: LoginScopes, account: str, address: str, *, message: str) -> None:
    """Raise TooManyAttempts when this address may not try this account now (see the module docstring)."""
    # The account (one lock), then the address (one of its slots while far from its limit): every sign-in takes
    # them in this order, so two never wait for each other.
    pair = _pair(account, address)
    pair_limit, address_limit = LIMITS["login-account-address"], LIMITS["login-address"]
    slowdown = LIMITS["login-account-slowdown"]
    pair_failed, address_failed, account_failed = lock_and_count(
        session, [(scopes.account, account, None), (scopes.address, address, "login-address")],
        [(scopes.pair, pair, pair_limit.window), (scopes.address, address, address_limit.window),
         (scopes.account, account, slowdown.window)])
    if pair_failed >= pair_limit.attempts or address_failed >= address_limit.attempts or \
            (account_failed >= slowdown.attempts and pair_failed > 0):
        raise TooManyAttempts(message)


def record_login_failure(session: Session, scopes: LoginScopes, account: str, address: str) -> None:
    for scope, key in ((scopes.account, account), (scopes.address, address), (scopes.pair, _pair(account, address))):
        record_failure(session, scope, key)


def login_succeeded(session: Session, scopes: LoginScopes, account: str, address: str) -> None:
    """Forget the account's failures and this address's failures for it (other addresses stay refused)."""
    clear(session, scopes.account, account)
    clear(session, scopes.pair, _pair(account, address))


def _pair(account: str, address: str) -> str:
    return f"{account}\x1f{address}"
