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

from .. import campaigns, earning
from ..actors import Actor
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
    txs = iter(campaigns.mint_all(session, campaign.organization_id, [
        (event.member, account_id, amount, campaigns.award_reason(campaign, action, event))
        for event, action, account_id, amount in mints], actor=actor, settle=False))  # new members owe nothing
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
