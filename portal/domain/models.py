"""Every model module, imported once so the metadata (and Alembic) sees all tables."""
from . import audit, events, idempotency, ledger, members, organizations, staff, throttle, tiers  # noqa: F401
from .base import Base

metadata = Base.metadata
