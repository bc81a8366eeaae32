"""The JSON API under /api/v1."""
from . import earning, events, ledgers, members, missions, programs, referrals, staff  # noqa: F401  (register routes)
from . import barcodes, coupons  # noqa: F401  (offers engine routes)
from . import webhooks  # noqa: F401  (partner webhooks)
from .barcodes import images_bp
from .core import bp
from .openapi import docs_bp

__all__ = ["bp", "docs_bp"]
