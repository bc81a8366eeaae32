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
  account and then one on the address (`serialize_all`, always in that order),
  held until the transaction ends, so parallel attempts for one account, or
  from one address for any accounts, are counted one after the other and
  exactly `limit` of them reach the password check. PostgreSQL: transaction-
  scoped advisory locks; SQLite: every transaction begins with BEGIN IMMEDIATE
  (portal/db.py), which already serialises writers. The price: sign-ins from
  one address (an office behind one NAT) pass the password check one at a time.
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
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Index, String, bindparam, delete, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

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
        # Advisory locks take a bigint: the first 8 bytes of the digest, signed. PostgreSQL evaluates a
        # select list left to right, so the locks are taken in the order given.
        ids = {f"id{n}": int.from_bytes(bytes.fromhex(_hash(f"{scope}\x1f{key}")[:16]), "big", signed=True)
               for n, (scope, key) in enumerate(pairs)}
        session.execute(text("SELECT " + ", ".join(f"pg_advisory_xact_lock(:{name})" for name in ids)), ids)
    # SQLite: the transaction began with BEGIN IMMEDIATE, so no other writer runs until it ends.


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
    """`check_limit` for each (scope, key, limit name, message), all counted in one statement; the first
    limit reached, in the order given, raises."""
    now, params = utcnow(), {}
    for n, (scope, key, name, _) in enumerate(checks):
        params.update({f"scope{n}": scope, f"key{n}": _hash(key), f"since{n}": now - LIMITS[name].window})
    for (_, _, name, message), failed in zip(checks, session.execute(_counts(len(checks)), params).one()):
        if (failed or 0) >= LIMITS[name].attempts:
            raise TooManyAttempts(message)


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
    session.add(FailedAttempt(scope=scope, key_hash=_hash(key)))
    session.flush()


def clear(session: Session, scope: str, key: str) -> None:
    """Forget failures after a success."""
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
    # The account, then the address: every sign-in takes them in this order, so two never wait for each other.
    serialize_all(session, [(scopes.account, account), (scopes.address, address)])
    pair = _pair(account, address)
    check_limit(session, scopes.pair, pair, "login-account-address", message)
    check_limit(session, scopes.address, address, "login-address", message)
    slowdown = LIMITS["login-account-slowdown"]
    if failures(session, scopes.account, account, slowdown.window) >= slowdown.attempts and \
            failures(session, scopes.pair, pair, LIMITS["login-account-address"].window) > 0:
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
