"""Every model module, imported once so the metadata (and Alembic) sees all tables."""
from . import (audiences, audit, campaigns, outbox, idempotency, ledger, custom_events, members,  # noqa: F401
               missions, orders, organizations, referrals, staff, throttle, tiers)
from . import self_service  # noqa: F401  (member portal: one-time links, signups)
from .partners import models as partner_models  # noqa: F401  (partner apps, OAuth grants)
from . import barcodes, coupons  # noqa: F401  (offers engine)
from .coupons import models as coupon_models  # noqa: F401
from . import expiry, jobs  # noqa: F401  (points lots, periodic jobs)
from .bulk import jobs as bulk_jobs, member_import, points_grant  # noqa: F401  (bulk imports and grants)
from . import signup_forms  # noqa: F401  (embeddable signup forms)
from . import webhooks  # noqa: F401  (subscriptions, deliveries; an outbox consumer)
from . import mail_deliveries  # noqa: F401  (mail sent by the worker; an outbox consumer)
from .base import Base

metadata = Base.metadata
