"""Forms of the member's coupons and referrals pages: shape only.

Whether a coupon may be claimed or activated is the offers engine's call
(portal/domain/coupons); whether a referral code may be handed out is the
referrals engine's (portal/domain/referrals).
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import DataRequired, Regexp


class ClaimForm(FlaskForm):
    """A claim button. `request_key` is drawn when the page is drawn, so a second
    click or a resent form replays the first claim instead of taking a second coupon."""

    request_key = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_-]{16,64}$")])
    next = HiddenField()


class CouponActionForm(FlaskForm):
    """Activate or deactivate: the CSRF token and the page to go back to."""

    next = HiddenField()
