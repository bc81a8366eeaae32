"""The JSON API under /api/v1."""
from . import (audiences, campaigns, events, ledgers, members, missions, orders, programs, referrals,  # noqa: F401
               rules, staff, stats)  # (register routes)
from . import barcodes, coupons  # noqa: F401  (offers engine routes)
from . import signup_forms  # noqa: F401  (embeddable signup forms)
from . import portals  # noqa: F401  (partner apps; resolves members' OAuth tokens)
from . import webhooks  # noqa: F401  (partner webhooks)
from . import jobs  # noqa: F401  (bulk imports and grants)
from .barcodes import images_bp
from .core import bp
from .openapi import docs_bp

__all__ = ["bp", "docs_bp"]
