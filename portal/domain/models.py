"""Every model module, imported once so the metadata (and Alembic) sees all tables."""
from . import (audiences, audit, campaigns, events, idempotency, ledger, loyalty_events, members,  # noqa: F401
               missions, orders, organizations, referrals, staff, throttle, tiers)
from .base import Base

metadata = Base.metadata
