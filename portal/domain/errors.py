"""Domain errors: data, not control flow for the web.

Each carries a stable `code`, a human `message` and optionally the `field` it
concerns. The API maps `status` to an HTTP status and `code` to the problem
`type` (problem+json); the HTML side shows `message` on the named form field.

One class per broken rule, so that a client can tell the rules apart by `type`
alone. Each is a subclass of the general kind (Conflict, ValidationFailed...),
so `except Conflict` still catches it. Rules shared by several modules live
here; a module's own rules live with it (coupons/errors.py, orders.py,
missions.py, referrals.py, custom_events.py). tests/domain/test_errors.py
checks that no two classes share a code.
"""
from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "invalid"
    title = "Invalid request"
    # Seconds after which the same request may succeed (a transient refusal, a 503): the API sends it as
    # Retry-After. None: retrying as it is will not help.
    retry_after: int | None = None

    def __init__(self, message: str | None = None, *, field: str | None = None, errors: dict | None = None):
        self.message = message or self.title
        self.field = field
        self.errors = errors or ({field: [self.message]} if field else {})
        super().__init__(self.message)


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"
    title = "Invalid field"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InsufficientBalance(Conflict):
    code = "insufficient_balance"
    title = "Insufficient balance"


class MaxSupplyExceeded(Conflict):
    code = "max_supply_exceeded"
    title = "Maximum supply of the account would be exceeded"


class AccountNotActive(Conflict):
    """The member's account is locked or deactivated: their points cannot move."""

    code = "account_not_active"
    title = "Account is not active"


class LedgerAccountNotActive(Conflict):
    code = "ledger_account_not_active"
    title = "Ledger account is not active"


class NotPending(Conflict):
    code = "transaction_not_pending"
    title = "Only a pending transaction can be captured or voided"


class NotRevertible(Conflict):
    code = "transaction_not_revertible"
    title = "A revert or void cannot itself be reverted"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "systemUniqueKey was already used with a different request"


class AlreadyResolved(Conflict):
    code = "already_resolved"
    title = "Transaction was already captured, voided or reverted"


class DuplicateValue(Conflict):
    code = "duplicate"
    title = "Value already in use"


class NoUnusedValue(Conflict):
    """Random numbers or codes drawn several times all clashed with used ones; a retry draws again."""

    code = "no_unused_value"
    title = "Could not draw unused values; try again"


class ConcurrentChange(Conflict):
    code = "concurrent_change"
    title = "Changed by someone else meanwhile; try again"


class PermissionDenied(DomainError):
    """The actor lacks a role the action needs, or does to its own account what nobody may (deactivate themselves,
    change their own roles)."""

    status = 403
    code = "forbidden"
    title = "Permission denied"
