"""system wallets' balances spread over shard rows, so that mints do not queue on one row

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 15:00:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing balances stay on the wallet rows: a system wallet's balance is its row plus its shards.
    op.create_table('wallet_shards',
    sa.Column('wallet_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shard', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('balance', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['wallet_id'], ['wallets.id'], name=op.f('fk_wallet_shards_wallet_id_wallets')),
    sa.PrimaryKeyConstraint('wallet_id', 'shard', name=op.f('pk_wallet_shards'))
    )


def downgrade() -> None:
    # Fold the shards back into their wallet rows before dropping them, so no balance is lost.
    op.execute("UPDATE wallets SET balance = balance + (SELECT COALESCE(SUM(s.balance), 0) FROM wallet_shards s "
               "WHERE s.wallet_id = wallets.id) WHERE id IN (SELECT wallet_id FROM wallet_shards)")
    op.drop_table('wallet_shards')
