"""The business rules of Portal. Nothing here imports Flask.

Every public function takes a SQLAlchemy session, the acting party and plain
values; it may flush but never commits: the caller (view, API handler, CLI
command, job) owns the transaction.
"""
