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

from sqlalchemy.orm import Session

from .. import campaigns, earning
from ..actors import Actor


def takes(campaign: campaigns.Campaign, actions: list[campaigns.CampaignAction]) -> bool:
    """Can the campaign be applied to many events at once here (see the module docstring)?"""
    return (not campaign.tier_ids and not campaign.audience_ids and campaign.min_spend is None
            and campaign.monthly_points_cap is None
            and all(not action.rules and all(effect["type"] == "award_points" for effect in action.effects)
                    for action in actions if action.status == campaigns.RUNNING))


def award_all(session: Session, campaign: campaigns.Campaign, actions: list[campaigns.CampaignAction],
              events: list[earning.LoyaltyEvent], evaluations: list[earning.Evaluation], *, actor: Actor) -> None:
    """Apply the campaign (one that `takes`) to each event, adding to its evaluation what `run_campaigns` would."""
    awards = []
    for event, evaluation in zip(events, evaluations):
        if not campaigns.eligible(session, campaign, event, {}):  # time and place only: no context needed
            continue
        for action in actions:
            if action.status != campaigns.RUNNING:
                continue
            for spec in action.effects:  # no cap (`takes`): what is asked for is granted, and no statement
                campaigns.award_points(session, campaign, action, spec, event, evaluation, False, awards)
    campaigns.post_awards(session, awards, actor, settle=False)  # new members owe nothing
