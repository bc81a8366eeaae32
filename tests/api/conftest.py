"""Helpers for the API tests: problem+json checks, row counts, members with points."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.domain.audit import AuditEntry
from portal.domain.outbox import OutboxEvent
from portal.domain.idempotency import IdempotencyKey
from portal.domain.ledger import Ledger, LedgerAccount, LedgerEntry, LedgerTransaction, Wallet
from portal.domain.members import Identifier, Member
from portal.domain.organizations import LoyaltyProgram
from portal.domain.staff import ApiKey, StaffUser
from portal.domain.tiers import MemberTier, Tier, TierHistory

from ..conftest import Api as CommittingApi  # noqa: F401  (the root Api commits set-up before each request)




COUNTED = {"members": Member, "identifiers": Identifier, "transactions": LedgerTransaction,
           "entries": LedgerEntry, "wallets": Wallet, "ledgers": Ledger, "accounts": LedgerAccount,
           "programs": LoyaltyProgram, "tiers": Tier, "member_tiers": MemberTier, "tier_history": TierHistory,
           "api_keys": ApiKey, "staff": StaffUser, "audit": AuditEntry, "events": OutboxEvent,
           "keys": IdempotencyKey}


def row_counts(session) -> dict[str, int]:
    session.expire_all()
    return {name: session.scalar(select(func.count()).select_from(model)) for name, model in COUNTED.items()}


def problem(response, status: int, field: str | None = None) -> dict:
    """Assert an RFC 9457 problem with this status (and `field` named in errors); return the body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    assert body.get("detail")
    if field is not None:
        assert field in body.get("errors", {}), (field, body)
        assert all(isinstance(m, str) for m in body["errors"][field])
    return body


@pytest.fixture
def member(api):
    r = api.post("/members", json={"profile": {"email": "ann@example.com", "givenName": "Ann",
                                               "familyName": "Smith", "city": "Berlin"}})
    assert r.status_code == 201, r.json
    return r.json["member"]


@pytest.fixture
def funded(api, member):
    """The member with 100 points in the main account; returns (member, walletId)."""
    r = api.post(f"/loyalty-members/{member['loyaltyMemberId']}/mint", json={"amount": 100})
    assert r.status_code == 201, r.json
    return member, r.json["transaction"]["toWalletId"]
