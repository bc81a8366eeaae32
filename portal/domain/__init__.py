"""The business rules of Portal. Nothing here imports Flask.

Every public function takes a SQLAlchemy session, the acting party and plain
values; it may flush but never commits: the caller (view, API handler, CLI
command, job) owns the transaction.

What every module shares, so that a new one is written the same way:
- base: Base and column types, `get_owned` (by id inside the organisation, else
  NotFound), `add_unique` (insert, a broken unique constraint becomes a named
  error), `assign_given`, `ValidityWindow` (active, valid_from, valid_to);
- errors: the general kinds (NotFound, ValidationFailed, Conflict...) and the
  rules shared by several modules; a module's own rules are classes in it, one
  per broken rule, each with its own `code` (the API's problem type);
- checks: field checks with one message everywhere (unknown field, a whole
  number in range, a ledger account of the organisation);
- pagination: pages, ORDER BY from `?order`, optional filters (`where_given`, `within`);
- ledger: points move only through `ledger.post` and its mint, burn, transfer.
"""
