"""Why a coupon was refused, or a coupon book a change. Each rule is its own
error (409 unless stated), and the `field` names the setting or input that
refused it.

`CouponCodeNotUsable` is deliberately one error for "no such code", "someone
else's code" and "code used up": a caller guessing codes learns nothing.
"""
from __future__ import annotations

from ..errors import Conflict, InsufficientBalance


class CouponRefused(Conflict):
    code = "coupon_refused"
    title = "Coupon refused"


class CouponNotPublished(CouponRefused):
    code = "coupon_not_published"
    title = "Coupon book is not published"


class CouponExpired(CouponRefused):
    code = "coupon_expired"
    title = "Coupon has expired"


class CouponNotYetValid(CouponRefused):
    code = "coupon_not_yet_valid"
    title = "Coupon is not valid yet"


class CouponLimitReached(CouponRefused):
    code = "coupon_limit_reached"
    title = "Coupon limit reached"


class CouponAlreadyUsed(CouponRefused):
    code = "coupon_already_used"
    title = "Coupon was already used"


class CouponNotActivated(CouponRefused):
    code = "coupon_not_activated"
    title = "Coupon is not activated"


class CouponNotActivatable(CouponRefused):
    code = "coupon_not_activatable"
    title = "Coupon cannot be activated"


class CouponNotEligible(CouponRefused):
    code = "coupon_not_eligible"
    title = "Member is not eligible for this coupon"


class CouponManualUseNotAllowed(CouponRefused):
    code = "coupon_manual_use_not_allowed"
    title = "Coupon applies automatically with a purchase"


class CouponCodeNotUsable(CouponRefused):
    code = "coupon_code_not_usable"
    title = "Coupon code cannot be used"
    MESSAGE = "This code is not valid for this member"

    def __init__(self, field: str = "code"):
        super().__init__(self.MESSAGE, field=field)


class CouponBookArchived(Conflict):
    code = "coupon_book_archived"
    title = "Coupon book is archived"


class InsufficientPoints(InsufficientBalance):
    code = "insufficient_points"
    title = "Not enough points for this coupon"
