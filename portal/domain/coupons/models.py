"""Coupon books, their code pools, members' account coupons and coupon usages.

Invariants (kept by conditional UPDATEs and unique indexes, never by reading
a count and writing it back):
- `CouponBook.assigned_count` is the number of live (not reverted) assignments
  of the book and never exceeds `max_coupon_count`; `used_count` the number of
  live uses.
- `AccountCoupon` is the one row per (member, book): the Convercus account
  coupon. Its `assigned_count` never exceeds the book's
  `max_assigned_per_member`; `used_count` counts the member's live uses.
  Every assignment or use of a (member, book) pair first locks this row, so
  the operations of one member on one book are serialised on every database.
- `CouponCode.assigned_count` never exceeds the book's `max_assigned_per_coupon`;
  codes are unique within their book.
- A `CouponUsage` row is written for every assignment (`kind='assign'`) and
  every use (`kind='use'`). An assignment is used at most once: its state moves
  assigned -> used only by a conditional UPDATE, or it is written as used, with
  its use, when it is assigned to be used at once (a code used at the till that
  the member did not hold); a partial unique index allows one live use row per
  assignment.
- Reverting never deletes: the row gets `reverted_at`, the counters go down,
  and points burned for it are refunded by a reversing ledger transaction.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Numeric, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base, IndexedOwnedRow, OwnedRow, unique_where, utcnow

# usageType (Convercus) / type (loyalty core platform)
DISCOUNT, REWARD, EXTRAPOINT, MULTIPLIER = "DISCOUNT", "REWARD", "EXTRAPOINT", "MULTIPLIER"
TYPES = (DISCOUNT, REWARD, EXTRAPOINT, MULTIPLIER)
# Applied by the earning engine with a purchase, never used by hand.
AUTOMATIC_TYPES = (EXTRAPOINT, MULTIPLIER)

PERCENTAGE, FIXED = "percentage", "fixed"
DISCOUNT_TYPES = (PERCENTAGE, FIXED)

DRAFT, PUBLISHED, DISABLED, ARCHIVED = "draft", "published", "disabled", "archived"
PUBLISHING_STATUSES = (DRAFT, PUBLISHED, DISABLED, ARCHIVED)

ASSIGN, USE = "assign", "use"
# States of a usage row: an assignment is assigned -> used (-> assigned again
# when the use is reverted) or reverted; a use row is used or reverted.
ASSIGNED, USED, REVERTED = "assigned", "used", "reverted"

TEXT_FIELDS = ("title", "subtitle", "description", "bookingText")


class CouponBook(OwnedRow, Base):
    __tablename__ = "coupon_books"
    __table_args__ = (
        Index("ix_coupon_books_org_created", "organization_id", "created_at"),
        CheckConstraint("assigned_count >= 0 AND used_count >= 0 AND code_count >= 0", name="counts_not_negative"),
    )

    loyalty_program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    publishing_status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    discount_type: Mapped[str | None] = mapped_column(String(16), default=None)
    discount_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), default=None)
    valid_from: Mapped[dt.datetime | None] = mapped_column(default=None)
    valid_to: Mapped[dt.datetime | None] = mapped_column(default=None)
    max_assigned_per_member: Mapped[int | None] = mapped_column(default=None)
    # 1 makes every code single-use (create_book's default); None lets a code be shared without limit.
    max_assigned_per_coupon: Mapped[int | None] = mapped_column(default=None)
    max_coupon_count: Mapped[int | None] = mapped_column(default=None)
    assignment_required_points: Mapped[int] = mapped_column(default=0)
    usage_required_points: Mapped[int] = mapped_column(default=0)
    activatable: Mapped[bool] = mapped_column(Boolean, default=False)
    tiers: Mapped[list[str]] = mapped_column(default=list)
    audience_keys: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[list[str]] = mapped_column(default=list)
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    external_reference: Mapped[str | None] = mapped_column(String(255), default=None)
    ranking_index: Mapped[int] = mapped_column(default=0)
    default_locale: Mapped[str] = mapped_column(String(10), default="en")
    # {"de": {"title", "subtitle", "description", "bookingText"}, ...}
    i18n: Mapped[dict[str, Any]] = mapped_column(default=dict)
    picture_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    detail_picture_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    condition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    assigned_count: Mapped[int] = mapped_column(default=0)
    used_count: Mapped[int] = mapped_column(default=0)
    code_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def has_code_pool(self) -> bool:
        """Books with codes hand out a code with every assignment; others are codeless."""
        return self.code_count > 0

    @property
    def is_automatic(self) -> bool:
        return self.type in AUTOMATIC_TYPES


class CouponCode(IndexedOwnedRow, Base):
    __tablename__ = "coupon_codes"
    __table_args__ = (
        UniqueConstraint("book_id", "code"),
        Index("ix_coupon_codes_book_assigned", "book_id", "assigned_count", "id"),
        CheckConstraint("assigned_count >= 0 AND used_count >= 0", name="counts_not_negative"),
    )

    book_id: Mapped[int] = mapped_column(ForeignKey("coupon_books.id"))
    code: Mapped[str] = mapped_column(String(100))
    assigned_count: Mapped[int] = mapped_column(default=0)
    used_count: Mapped[int] = mapped_column(default=0)
    # Staff may switch a single code off, or give it its own end (PATCH .../codes/{couponId}):
    # an inactive or expired code is neither handed out nor used.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AccountCoupon(OwnedRow, Base):
    """A member's relation to a book: limits per member, activation, the POS id."""

    __tablename__ = "account_coupons"
    __table_args__ = (
        UniqueConstraint("book_id", "member_id"),
        UniqueConstraint("public_id"),
        CheckConstraint("assigned_count >= 0 AND used_count >= 0", name="counts_not_negative"),
    )

    book_id: Mapped[int] = mapped_column(ForeignKey("coupon_books.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # accountCouponId: uuid5 of organisation, member and book, so always the same for the pair.
    public_id: Mapped[str] = mapped_column(String(36))
    assigned_count: Mapped[int] = mapped_column(default=0)
    used_count: Mapped[int] = mapped_column(default=0)
    activated: Mapped[bool] = mapped_column(Boolean, default=False)
    last_activation_date: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CouponUsage(IndexedOwnedRow, Base):
    """One assignment or one use: who, when, where, with which key."""

    __tablename__ = "coupon_usages"
    __table_args__ = (
        Index("ix_coupon_usages_member_book", "member_id", "book_id", "kind", "state"),
        Index("ix_coupon_usages_book_created", "book_id", "created_at"),
        Index("ix_coupon_usages_member_purchase", "member_id", "purchase_ref"),
        unique_where("uq_coupon_usages_one_live_use", "assignment_id", where="kind = 'use' AND reverted_at IS NULL"),
        CheckConstraint("kind IN ('assign', 'use')", name="kind"),
    )

    book_id: Mapped[int] = mapped_column(ForeignKey("coupon_books.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    account_coupon_id: Mapped[int] = mapped_column(ForeignKey("account_coupons.id"), index=True)
    code_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_codes.id"), index=True, default=None)
    kind: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(10))
    # A use names the assignment it consumed.
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_usages.id"), default=None)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    system_unique_key: Mapped[str | None] = mapped_column(String(255), index=True, default=None)
    # The purchase (its externalId) a use was made on: the combinability condition reads it.
    purchase_ref: Mapped[str | None] = mapped_column(String(255), default=None)
    location_code: Mapped[str | None] = mapped_column(String(100), default=None)
    interaction_point: Mapped[str | None] = mapped_column(String(100), default=None)
    points_burned: Mapped[int] = mapped_column(default=0)
    ledger_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"), default=None)
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(default=None)
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reverted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
