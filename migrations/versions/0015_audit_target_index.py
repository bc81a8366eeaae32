"""audit entries found by their target, so that erasure can blank what staff wrote about a member

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 18:15:00
"""
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_audit_log_target', 'audit_log', ['target_type', 'target_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_log_target', table_name='audit_log')
