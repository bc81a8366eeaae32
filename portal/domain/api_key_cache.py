"""Staff API keys resolved without a database round trip on every request.

A process remembers, for at most `ttl` seconds (config API_KEY_CACHE_SECONDS, 5 by default), who a
valid key acts as: its id, organisation, prefix and roles, keyed by the digest of the secret (the
secret itself is never kept). Invariants:
- A key revoked, or whose roles change, stops working as before within `ttl` seconds in every process:
  an entry older than `ttl` is never used, the row is read again.
- In the process that revokes it (or changes its roles through the ORM), at once: setting
  `ApiKey.revoked_at` or `ApiKey.roles` drops the key from every cache of the process.
- Only valid keys are remembered: an unknown, malformed or revoked secret asks the database every time,
  so a key created a moment ago works at once, and nothing an attacker sends fills the cache.
"""
from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

from . import staff
from .actors import Actor
from .passwords import digest

DEFAULT_TTL = 5.0
MAX_ENTRIES = 10_000  # past this many keys in one process the cache starts again empty

_caches: weakref.WeakSet[ApiKeyCache] = weakref.WeakSet()
_caches_lock = threading.Lock()


@dataclass(frozen=True)
class _Known:
    actor: Actor
    checked_at: float


class ApiKeyCache:
    """Who a bearer key acts as, read from the database at most once per `ttl` seconds per key."""

    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self._known: dict[str, _Known] = {}
        self._by_id: dict[int, str] = {}
        with _caches_lock:
            _caches.add(self)

    def resolve(self, session: Session, raw: str) -> Actor | None:
        """The actor of a valid, unrevoked key; None for anything else (then nothing is remembered)."""
        if not raw.startswith("pk_"):
            return None  # not an API key (an OAuth token): nothing to look up
        if self.ttl <= 0:
            key = staff.authenticate_api_key(session, raw)
            return key.actor() if key is not None else None
        key_hash = digest(raw)
        known = self._known.get(key_hash)
        now = self.clock()
        if known is not None and now - known.checked_at < self.ttl:
            return known.actor
        key = staff.authenticate_api_key(session, raw)
        if key is None:
            self._drop(key_hash)
            return None
        if len(self._known) >= MAX_ENTRIES:
            self.clear()
        actor = key.actor()
        self._known[key_hash] = _Known(actor, now)
        self._by_id[key.id] = key_hash
        return actor

    def forget(self, key_id: int) -> None:
        """Drop the key with this id, if it is remembered."""
        key_hash = self._by_id.pop(key_id, None)
        if key_hash is not None:
            self._known.pop(key_hash, None)

    def clear(self) -> None:
        self._known.clear()
        self._by_id.clear()

    def _drop(self, key_hash: str) -> None:
        known = self._known.pop(key_hash, None)
        if known is not None:
            self._by_id.pop(known.actor.id, None)


def _forget_everywhere(target: staff.ApiKey, *_args) -> None:
    if target.id is None:
        return
    with _caches_lock:
        caches = list(_caches)
    for cache in caches:
        cache.forget(target.id)


event.listen(staff.ApiKey.revoked_at, "set", _forget_everywhere)
event.listen(staff.ApiKey.roles, "set", _forget_everywhere)
