"""In-process hooks between domain modules, so the ledger need not import tiers.

`after_posting` handlers run inside the same transaction as the movement that
triggered them; an error in a handler rolls the movement back too.
"""
from __future__ import annotations

from typing import Callable

after_posting: list[Callable] = []
# fn(session, tx, source_wallet, target_wallet, amount, account): points lots follow every posted movement.
points_moved: list[Callable] = []


def connect(handlers: list[Callable]):
    def register(fn):
        handlers.append(fn)
        return fn

    return register


def send(handlers: list[Callable], *args, **kwargs) -> None:
    for handler in list(handlers):
        handler(*args, **kwargs)
