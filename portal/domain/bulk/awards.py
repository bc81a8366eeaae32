"""A campaign's points for many events at once (a bulk import's `member-created`: the welcome campaign).

`campaigns.run_campaigns_many` hands a campaign here when `takes` says its outcome
depends on nothing but the moment: no tier, audience, minimum spend or monthly cap,
and running actions without rules whose effects are all `award_points`. Then each
event gets exactly the effects `campaigns.run_campaigns` would give it, computed in
memory in the same order, and they are written set-based: the members' wallets in
two statements per account, every mint through `ledger.post_all` (transactions,
entries, balances, shards, outbox events: one statement each), the `ledger.minted`
audit entries and the CampaignEvaluation rows in one statement each.

Invariants: the same as the per-event path (one ledger transaction per mint, the
tier points minted beside the points when the effect asks for them, an evaluation row
per grant naming its transaction), checked as `ledger.post` checks (active member and
account, the maximum supply through `ledger.Funds`); any refusal raises and the
caller's transaction rolls back whole, as one member's would.
"""
from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session

from .. import audit, campaigns, earning, ledger
from ..actors import Actor
from ..ledger import Reason
from ..organizations import LoyaltyProgram


def takes(campaign: campaigns.Campaign, actions: list[campaigns.CampaignAction]) -> bool:
    """Can the campaign be applied to many events at once here (see the module docstring)?"""
    return (not campaign.tier_ids and not campaign.audience_ids and campaign.min_spend is None
            and campaign.monthly_points_cap is None
            and all(not action.rules and all(effect["type"] == "award_points" for effect in action.effects)
                    for action in actions if action.status == campaigns.RUNNING))


def award_all(session: Session, campaign: campaigns.Campaign, actions: list[campaigns.CampaignAction],
              events: list[earning.LoyaltyEvent], evaluations: list[earning.Evaluation], *, actor: Actor) -> None:
    """Apply the campaign (one that `takes`) to each event, adding to its evaluation what `run_campaigns` would."""
    program = session.get(LoyaltyProgram, campaign.loyalty_program_id)
    grants = []  # (event, action, effect, account id, points, tier points account id or None)
    for event, evaluation in zip(events, evaluations):
        if not campaigns.eligible(session, campaign, event, {}):  # time and place only: no context needed
            continue
        for action in actions:
            if action.status != campaigns.RUNNING:
                continue
            for spec in action.effects:
                # As campaigns._apply_effect: no cap, so what is asked for is granted.
                requested = campaigns.award_amount(spec, event, evaluation, campaign)
                granted = max(requested, 0)
                result = earning.Effect(type="award_points", points=granted, campaign_id=campaign.id,
                                        action_id=action.id, source=f"campaign:{campaign.code}",
                                        details={"requested": requested, "capped": requested - granted,
                                                 "mode": spec["mode"]})
                evaluation.effects.append(result)
                if granted > 0:
                    tier_account = (program.tier_points_account_id
                                    if spec.get("tierPoints", True) and spec.get("ledgerAccountId") is None else None)
                    grants.append((event, action, result, spec.get("ledgerAccountId") or program.points_account_id,
                                   granted, tier_account))
    if not grants:
        return
    mints = [(event, action, account_id, amount) for event, action, _, account_id, amount, tier in grants
             for account_id in ((account_id,) if tier is None else (account_id, tier))]
    txs = iter(_mint_all(session, campaign, mints, actor))
    rows = []
    for event, action, result, _, amount, tier in grants:
        tx = next(txs)
        result.ledger_transaction_id = tx.id
        if tier is not None:
            result.details["tierPointsTransactionId"] = next(txs).id
        rows.append({"organization_id": campaign.organization_id, "campaign_id": campaign.id, "action_id": action.id,
                     "member_id": event.member.id, "event_type": event.event_type,
                     "order_id": event.order.id if event.order is not None else None,
                     "effect_type": "award_points", "points": amount, "ledger_transaction_id": tx.id})
    session.execute(insert(campaigns.CampaignEvaluation), rows)


def _mint_all(session: Session, campaign: campaigns.Campaign, mints: list, actor: Actor) -> list:
    """Each (event, action, account id, amount) minted into the event's member's wallet, as
    `points.mint_to_member` would (no key: the per-event path gives none), in a fixed number of statements
    per account. Raises AccountNotActive, LedgerAccountNotActive, MaxSupplyExceeded."""
    accounts = {account_id: ledger.get_account(session, campaign.organization_id, account_id)
                for account_id in sorted({m[2] for m in mints})}
    issuance = dict(zip(accounts, ledger.system_wallets(session, list(accounts.values()))[::2]))
    wallets = {account_id: ledger.member_wallets_in(session, account, [m[0].member.id for m in mints
                                                                       if m[2] == account_id])
               for account_id, account in accounts.items()}
    funds, _ = ledger.Funds.lock(session, campaign.organization_id, [], [
        issuance[account_id].id for account_id, account in accounts.items() if account.max_supply is not None])
    postings = []
    for event, action, account_id, amount in mints:
        reason = Reason(description=campaign.name, tags=[f"campaign:{campaign.code}", f"action:{action.id}"],
                        external_id=event.order.external_id if event.order is not None else None,
                        external_event_date=event.occurred_at)
        posting = ledger.Posting(ledger.MINT, accounts[account_id], issuance[account_id],
                                 wallets[account_id][event.member.id], amount, reason, actor)
        ledger.check_posting(session, posting)
        funds.take(posting)
        postings.append(posting)
    txs = ledger.post_all(session, postings)
    audit.record_many(session, actor, [("ledger.minted", tx) for tx in txs],
                      amount=lambda tx: tx.amount, ledgerAccountId=lambda tx: tx.ledger_account_id)
    return txs
