"""The offers engine: coupon books, code pools, assignments, uses and point-of-sale coupons.

Every face calls these functions; none of them commits (see services for the
rules and the lock order, models for the invariants).

Books:    create_book, update_book, set_publishing_status, get_book, books_query, texts, coupon_value,
          book_counts, free_code_count
Codes:    generate_codes, import_codes, check_codes, codes_query, get_code, code_status, minimum_length,
          update_code (active, expiry, assignment)
Members:  assign_coupons, claim_coupon, claim_voucher_code, use_coupon, serialize_code_attempts, note_code_failure,
          revert_usage, set_activation,
          assignment_refusal, member_coupons, member_coupon_counts, offers_for_member
Tills:    account_coupons_for_member, account_coupon_view, get_account_coupon, redeem_account_coupon,
          set_account_coupon_activation
Earning:  apply_purchase_coupons(session, member, Purchase(...), actor=...) -> PurchaseCouponEffects
Conditions: conditions.clean / check / describe (the book's `condition`, in plain words for members)
"""
from .books import (book_counts, books_query, coupon_value, used_value_in_points, create_book, free_code_count, get_book, is_published,
                    set_publishing_status, texts, update_book)
from .codes import (ImportResult, RowError, check_codes, code_status, codes_query, generate_codes, get_code,
                    import_codes, minimum_length, update_code)
from .errors import (CouponAlreadyUsed, CouponBelowMinimumTotal, CouponBookArchived, CouponBusy, CouponCodeInactive,
                     CouponCodeHandedOut, CouponCodeNotUsable, CouponConditionNotMet, CouponExpired, CouponFirstPurchaseOnly,
                     CouponLimitReached, CouponManualUseNotAllowed, CouponNotActivatable, CouponNotActivated,
                     CouponNotCombinable, CouponNotEligible, CouponNotInAudience, CouponNotPublished,
                     CouponNotYetValid, CouponOutsideDaysAndHours, CouponProductsNotInPurchase,
                     CouponPurchaseRequired, CouponRefused, CouponStoreNotAllowed, InsufficientPoints)
from . import conditions
from .models import (ARCHIVED, ASSIGN, ASSIGNED, AUTOMATIC_TYPES, DISABLED, DISCOUNT, DRAFT, EXTRAPOINT, FIXED,
                     MULTIPLIER, PERCENTAGE, PUBLISHED, PUBLISHING_STATUSES, REVERTED, REWARD, TYPES, USE, USED,
                     AccountCoupon, CouponBook, CouponCode, CouponUsage)
from .services import (AppliedCoupon, CouponResult, Place, Purchase, PurchaseCouponEffects, account_coupon_public_id,
                       apply_purchase_coupons, assign_coupons, assignment_refusal, claim_coupon, claim_voucher_code,
                       configure, find_account_coupon, get_account_coupon, get_usage, holds_code,
                       lock_account_coupon, lock_purchase_coupons, note_code_failure, redeem_account_coupon,
                       revert_usage, serialize_code_attempts, set_account_coupon_activation, set_activation,
                       use_coupon, usages_by_ids, withdraw_code)
from .read_models import (AccountCouponView, BookOffer, MemberCoupon, account_coupon_view, account_coupons_for_member,
                    coupon_state, member_coupon_counts, member_coupons, offers_for_member, usages_query)

__all__ = [name for name in dir() if not name.startswith("_")]
