"""The JSON API under /api/v1."""
from . import (audiences, campaigns, events, ledgers, members, missions, orders, programs, referrals,  # noqa: F401
               rules, staff, stats)  # (register routes)
from . import barcodes, coupons  # noqa: F401  (offers engine routes)
from .barcodes import images_bp
from .core import bp
from .openapi import docs_bp

__all__ = ["bp", "docs_bp"]
