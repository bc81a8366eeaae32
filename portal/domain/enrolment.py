"""Enrolment: a new member, their referral, and the `member-created` event.

The one path by which the API, the member portal and signup forms create
members, so that welcome campaigns and referral rules run for all of them.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from . import earning, members
from .actors import Actor


def enrol_member(session: Session, organization_id: int, *, actor: Actor, profile: dict[str, Any] | None = None,
                 referral_code: str | None = None, device_id: str | None = None,
                 **member_fields: Any) -> tuple[members.Member, earning.Evaluation]:
    """Create the member, attach the referral code (if any), then run `member-created` campaigns."""
    member = members.create_member(session, organization_id, actor=actor, profile=profile, **member_fields)
    if referral_code:
        from . import referrals

        referrals.attach_referral(session, member, referral_code, actor=actor, device_id=device_id)
    evaluation = earning.dispatch(session, earning.LoyaltyEvent(
        organization_id=organization_id, member=member, event_type=earning.MEMBER_CREATED,
        payload={"memberId": member.id}), actor=actor)
    return member, evaluation


def enrol_members(session: Session, organization_id: int, new_members: list[members.Member],
                  card_codes: list[str | None], *, actor: Actor) -> list[members.Member]:
    """Many members at once (bulk import): `members.create_members`, then `member-created` for each, as
    `enrol_member` does for one (through `earning.dispatch_many`, which skips for the whole batch a handler
    that nothing in the organisation listens to, and writes a welcome campaign's points for the whole batch
    at once: `campaigns.run_campaigns_many`). Raises DuplicateValue when a value is taken (nobody is then
    created)."""
    created = members.create_members(session, organization_id, new_members, card_codes, actor=actor)
    earning.dispatch_many(session, [earning.LoyaltyEvent(
        organization_id=organization_id, member=member, event_type=earning.MEMBER_CREATED,
        payload={"memberId": member.id}) for member in created], actor=actor)
    return created
