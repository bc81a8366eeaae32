"""Member portal blueprint: signup, login, wallet, card, coupons, referrals, profile (mounted at /).

Sessions carry "member:<id>:<fingerprint>"; the fingerprint changes with the
password and on erasure, which ends older sessions. Staff sessions are not
accepted here, and member sessions are not accepted by the console.
"""
from flask import Blueprint
from flask_login import UserMixin

from ..auth import member_loaders
from ..domain import self_service
from ..domain.members import Member
from ..extensions import db

bp = Blueprint("member", __name__)


class MemberSession(UserMixin):
    kind = "member"

    def __init__(self, member: Member):
        self.member = member

    def get_id(self) -> str:
        return f"member:{self.member.id}:{self_service.session_fingerprint(self.member)}"

    @property
    def locale(self) -> str:
        return self.member.locale

    @property
    def organization_id(self) -> int:
        return self.member.organization_id

    def actor(self):
        return self_service.member_actor(self.member)


def load_member_session(kind: str, raw_id: str) -> MemberSession | None:
    if kind != "member":
        return None
    member_id, _, fingerprint = raw_id.partition(":")
    if not member_id.isdigit() or not fingerprint:
        return None
    member = self_service.load_member(db.session, int(member_id), fingerprint)
    return MemberSession(member) if member else None


if load_member_session not in member_loaders:
    member_loaders.append(load_member_session)

from . import views  # noqa: E402,F401
from . import coupon_views, referral_views  # noqa: E402,F401
from . import app_views  # noqa: E402,F401  (connected partner apps)
