"""paying with points at the till: reservations (points_holds) and what an order paid with points;
mission completions taken back by returns; a programme's point value

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 14:40:00
"""
from alembic import op
import sqlalchemy as sa

import portal.domain.base


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('points_holds',
    sa.Column('id', BigId, nullable=False),
    sa.Column('organization_id', BigId, nullable=False),
    sa.Column('member_id', BigId, nullable=False),
    sa.Column('ledger_account_id', BigId, nullable=False),
    sa.Column('pending_transaction_id', BigId, nullable=False),
    sa.Column('amount', BigId, nullable=False),
    sa.Column('captured', BigId, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('expires_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ledger_account_id'], ['ledger_accounts.id'], name=op.f('fk_points_holds_ledger_account_id_ledger_accounts')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_points_holds_member_id_members')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_points_holds_organization_id_organizations')),
    sa.ForeignKeyConstraint(['pending_transaction_id'], ['ledger_transactions.id'], name=op.f('fk_points_holds_pending_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points_holds')),
    sa.UniqueConstraint('pending_transaction_id', name=op.f('uq_points_holds_pending_transaction_id'))
    )
    with op.batch_alter_table('points_holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_points_holds_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_points_holds_expires_at'), ['expires_at'], unique=False)
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('point_value', sa.Numeric(precision=14, scale=4), nullable=True))
    with op.batch_alter_table('mission_progress', schema=None) as batch_op:
        batch_op.add_column(sa.Column('completions_taken_back', BigId, server_default='0', nullable=False))
    with op.batch_alter_table('purchase_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points_redeemed', BigId, server_default='0', nullable=False))
        batch_op.add_column(sa.Column('points_redeemed_value', sa.Numeric(precision=14, scale=2), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('points_refunded', BigId, server_default='0', nullable=False))
        batch_op.add_column(sa.Column('hold_id', BigId, nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_purchase_orders_hold_id_points_holds'), 'points_holds',
                                    ['hold_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('purchase_orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_purchase_orders_hold_id_points_holds'), type_='foreignkey')
        batch_op.drop_column('hold_id')
        batch_op.drop_column('points_refunded')
        batch_op.drop_column('points_redeemed_value')
        batch_op.drop_column('points_redeemed')
    with op.batch_alter_table('mission_progress', schema=None) as batch_op:
        batch_op.drop_column('completions_taken_back')
    with op.batch_alter_table('loyalty_programs', schema=None) as batch_op:
        batch_op.drop_column('point_value')
    with op.batch_alter_table('points_holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_points_holds_expires_at'))
        batch_op.drop_index(batch_op.f('ix_points_holds_member_id'))
    op.drop_table('points_holds')
