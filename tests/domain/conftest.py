"""Helpers shared by the domain tests: row counts and a savepoint that rolls back a failed use case."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from portal.domain.audit import AuditEntry
from portal.domain.outbox import OutboxEvent
from portal.domain.idempotency import IdempotencyKey
from portal.domain.ledger import LedgerEntry, LedgerTransaction, Wallet

COUNTED = {"transactions": LedgerTransaction, "entries": LedgerEntry, "wallets": Wallet, "audit": AuditEntry,
           "events": OutboxEvent, "keys": IdempotencyKey}


def row_counts(session) -> dict[str, int]:
    session.flush()
    return {name: session.scalar(select(func.count()).select_from(model)) for name, model in COUNTED.items()}


@contextmanager
def fails_cleanly(session, error_type):
    """Expect `error_type` and roll back what the failing call wrote, as the API edge does."""
    savepoint = session.begin_nested()
    with pytest.raises(error_type) as info:
        yield info
    if savepoint.is_active:
        savepoint.rollback()
    session.expire_all()
