"""coupon codes can be deactivated and expire; a coupon use names the purchase it was used on

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 15:00:00
"""
from alembic import op
import sqlalchemy as sa

import portal.domain.base


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('coupon_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('expires_at', portal.domain.base.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('coupon_usages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purchase_ref', sa.String(length=255), nullable=True))
        batch_op.create_index('ix_coupon_usages_member_purchase', ['member_id', 'purchase_ref'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('coupon_usages', schema=None) as batch_op:
        batch_op.drop_index('ix_coupon_usages_member_purchase')
        batch_op.drop_column('purchase_ref')
    with op.batch_alter_table('coupon_codes', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('active')
