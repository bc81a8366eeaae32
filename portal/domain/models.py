"""Every model module, imported once so the metadata (and Alembic) sees all tables."""
from . import (audiences, audit, campaigns, events, idempotency, ledger, members, orders,  # noqa: F401
               organizations, staff, throttle, tiers)
from .base import Base

metadata = Base.metadata
