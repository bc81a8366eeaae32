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
