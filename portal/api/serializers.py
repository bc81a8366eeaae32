"""Domain objects to API shapes."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain import ledger, members, tiers
from ..domain.ledger import LedgerAccount, LedgerTransaction, Wallet
from ..domain.organizations import LoyaltyProgram
from . import schemas as s


def member(session: Session, m: members.Member) -> s.MemberOut:
    return s.MemberOut(
        id=m.id, organization_id=m.organization_id, loyalty_member_id=m.loyalty_member_id,
        member_type=m.member_type, active=m.active, account_status=m.account_status,
        profile=s.ProfileOut(**{k: v for k, v in members.profile_of(m).items()}),
        custom_attributes=m.custom_attributes or {},
        identifiers=[s.IdentifierOut(type=i.type, code=i.code, created_at=i.created_at)
                     for i in members.identifiers_of(session, m.id)],
        tiers=member_tiers(session, m), locale=m.locale, created_at=m.created_at, updated_at=m.updated_at)


def member_tiers(session: Session, m: members.Member) -> list[s.TierRef]:
    rows = session.execute(
        select(tiers.MemberTier, tiers.Tier).outerjoin(tiers.Tier, tiers.Tier.id == tiers.MemberTier.tier_id)
        .where(tiers.MemberTier.member_id == m.id).order_by(tiers.MemberTier.loyalty_program_id)).all()
    return [s.TierRef(loyalty_program_id=state.loyalty_program_id, loyalty_tier_id=state.tier_id,
                      name=tier.name if tier else None, source=state.source, expires_at=state.expires_at)
            for state, tier in rows]


def transaction(session: Session, tx: LedgerTransaction) -> s.TransactionOut:
    wallets = {w.id: w for w in session.scalars(select(Wallet).where(Wallet.id.in_([tx.from_wallet_id,
                                                                                    tx.to_wallet_id])))}
    member_wallet = next((w for w in (wallets.get(tx.to_wallet_id), wallets.get(tx.from_wallet_id))
                          if w is not None and w.member_id is not None), None)
    return s.TransactionOut(
        id=tx.id, ledger_transaction_id=tx.id, ledger_id=tx.ledger_id, ledger_account_id=tx.ledger_account_id,
        type=tx.type, status=ledger.transaction_state(session, tx), amount=tx.amount,
        from_wallet_id=tx.from_wallet_id, to_wallet_id=tx.to_wallet_id,
        member_id=member_wallet.member_id if member_wallet else None,
        pending_capture_ledger_transaction_id=tx.pending_id, reverts_ledger_transaction_id=tx.reverts_id,
        atomic_set_id=tx.set_id, system_unique_key=tx.system_unique_key, external_id=tx.external_id,
        external_event_date=tx.external_event_date, description=tx.description, tags=tx.tags or [],
        actor={"kind": tx.actor_kind, "id": tx.actor_id, "label": tx.actor_label}, created_at=tx.created_at)


def transactions(session: Session, txs: list[LedgerTransaction]) -> list[s.TransactionOut]:
    return [transaction(session, tx) for tx in txs]


def ledger_out(session: Session, book: ledger.Ledger) -> s.LedgerOut:
    default = session.scalar(select(LedgerAccount.id).where(LedgerAccount.ledger_id == book.id)
                             .order_by(LedgerAccount.is_default.desc(), LedgerAccount.id))
    return s.LedgerOut(id=book.id, name=book.name, description=book.description, default_account_id=default,
                       created_at=book.created_at)


def account(session: Session, a: LedgerAccount) -> s.AccountOut:
    totals = ledger.totals(session, a.id)
    return s.AccountOut(id=a.id, ledger_id=a.ledger_id, name=a.name, active=a.active, is_currency=a.is_currency,
                        decimals=a.decimals, format_string=a.format_string, max_supply=a.max_supply,
                        expires_in_months=a.expires_in_months, is_default_account=a.is_default,
                        minted=totals["minted"], burned=totals["burned"], circulating=totals["circulating"],
                        created_at=a.created_at)


def program(p: LoyaltyProgram) -> s.ProgramOut:
    return s.ProgramOut(id=p.id, name=p.name, description=p.description, is_default=p.is_default,
                        ledger_id=p.ledger_id, points_account_id=p.points_account_id,
                        tier_points_account_id=p.tier_points_account_id, created_at=p.created_at)


def tier(t: tiers.Tier) -> s.TierOut:
    return s.TierOut(id=t.id, loyalty_program_id=t.loyalty_program_id, name=t.name, description=t.description,
                     min_points=t.min_points, color=t.color, created_at=t.created_at)


def page(envelope: type[s.PageOut], result, items) -> dict:
    return envelope(total_count=result.total, page=result.page, limit=result.limit, results=items).dump()
