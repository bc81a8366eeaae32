"""reports: the organisation's timezone; indexes for reading events and tier changes by date, and for
asking whether an account ever had expiring points

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), server_default='UTC', nullable=False))
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_events_org_created', ['organization_id', 'created_at'], unique=False)
    with op.batch_alter_table('tier_history', schema=None) as batch_op:
        batch_op.create_index('ix_tier_history_org_created', ['organization_id', 'created_at'], unique=False)
    with op.batch_alter_table('points_lots', schema=None) as batch_op:
        batch_op.create_index('ix_points_lots_account', ['ledger_account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('points_lots', schema=None) as batch_op:
        batch_op.drop_index('ix_points_lots_account')
    with op.batch_alter_table('tier_history', schema=None) as batch_op:
        batch_op.drop_index('ix_tier_history_org_created')
    with op.batch_alter_table('outbox_events', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_events_org_created')
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_column('timezone')
