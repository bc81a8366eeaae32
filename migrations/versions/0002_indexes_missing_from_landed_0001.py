"""Indexes added to 0001 after it landed: a database built from the landed 0001 lacks them.

Commit 3017598 added `ix_wallets_account_kind` and
`ix_ledger_transactions_account_event_date` to 0001 in place, so a database
upgraded to 0001 before that never got them. Created here when missing
(CREATE INDEX IF NOT EXISTS on SQLite and PostgreSQL); where 0001 already
built them this revision changes nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00
"""
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

INDEXES = [
    ('ix_wallets_account_kind', 'wallets', ['ledger_account_id', 'kind']),
    ('ix_ledger_transactions_account_event_date', 'ledger_transactions', ['ledger_account_id', 'external_event_date']),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False, if_not_exists=True)


def downgrade() -> None:
    # Nothing to undo: 0001 as it now stands creates these indexes and its downgrade drops them,
    # so they must still exist at 0001. Dropping them here would make `downgrade base` fail.
    pass
