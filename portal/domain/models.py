"""Every model module, imported once so the metadata (and Alembic) sees all tables."""
from . import (audiences, audit, campaigns, events, idempotency, ledger, loyalty_events, members,  # noqa: F401
               missions, orders, organizations, referrals, staff, throttle, tiers)
from . import barcodes, coupons  # noqa: F401  (offers engine)
from .coupons import models as coupon_models  # noqa: F401
from .base import Base

metadata = Base.metadata
