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


class CouponNotInAudience(CouponRefused):
    """The book names audiences (audienceKeys) and the member is in none of them."""

    code = "coupon_not_in_audience"
    title = "Member is not in the coupon's audience"


class CouponBusy(CouponRefused):
    """A coupon row stayed locked by another request longer than the bounded wait: retry."""

    status = 503
    code = "coupon_busy"
    title = "Coupon is busy in another request; try again"
    retry_after = 1  # the holder is another till request; after the bounded wait, a second more usually sees it done


# --- the book's `condition` (conditions.py): one error per condition ---------------------

class CouponConditionNotMet(CouponRefused):
    code = "coupon_condition_not_met"
    title = "The purchase does not meet the coupon's conditions"


class CouponBelowMinimumTotal(CouponConditionNotMet):
    code = "coupon_below_minimum_total"
    title = "The purchase is below the coupon's minimum total"


class CouponProductsNotInPurchase(CouponConditionNotMet):
    code = "coupon_products_not_in_purchase"
    title = "The purchase holds none of the products the coupon is for"


class CouponStoreNotAllowed(CouponConditionNotMet):
    code = "coupon_store_not_allowed"
    title = "The coupon is not valid in this store"


class CouponOutsideDaysAndHours(CouponConditionNotMet):
    code = "coupon_outside_days_and_hours"
    title = "The coupon is not valid on this day or at this hour"


class CouponFirstPurchaseOnly(CouponConditionNotMet):
    code = "coupon_first_purchase_only"
    title = "The coupon is valid on the member's first purchase only"


class CouponNotCombinable(CouponConditionNotMet):
    code = "coupon_not_combinable"
    title = "The coupon cannot be combined with other coupons on one purchase"


class CouponPurchaseRequired(CouponConditionNotMet):
    code = "coupon_purchase_required"
    title = "The coupon's conditions need the purchase it is used on"


class CouponCodeInactive(CouponRefused):
    code = "coupon_code_inactive"
    title = "This coupon code was switched off"


class CouponCodeHandedOut(Conflict):
    """A code already handed out keeps its text: the member and the till know it by it."""

    code = "coupon_code_handed_out"
    title = "This code was handed out and cannot be renamed"
