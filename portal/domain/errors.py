"""Domain errors: data, not control flow for the web.

Each carries a stable `code`, a human `message` and optionally the `field` it
concerns. The API maps `status` to an HTTP status and problem+json; the HTML
side shows `message` on the named form field.
"""
from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "invalid"
    title = "Invalid request"

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
    code = "account_not_active"
    title = "Account is not active"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "systemUniqueKey was already used with a different request"


class AlreadyResolved(Conflict):
    code = "already_resolved"
    title = "Transaction was already captured, voided or reverted"


class DuplicateValue(Conflict):
    code = "duplicate"
    title = "Value already in use"


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"
    title = "Permission denied"
