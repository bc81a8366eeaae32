"""Password hashing with argon2id (tests switch to cheap parameters), and `digest`, how the
random secrets we hand out (API keys, one-time links, OAuth secrets and tokens) are stored."""
from __future__ import annotations

import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def use_fast_hashing() -> None:
    """Cheap argon2 parameters for the test suite only."""
    global _hasher
    _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Spend the same time as a real check so timing does not reveal unknown accounts.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def digest(secret: str) -> str:
    """How a random secret (API key, one-time link, OAuth client secret, code or token) is stored:
    its SHA-256 in hex. Fine for high-entropy secrets only; passwords go through hash_password."""
    return hashlib.sha256(secret.encode()).hexdigest()
