"""staff actions: one-time password-reset links for staff users; an API key remembers the staff user who
created it (deactivating that user revokes it)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 12:00:00
"""
from alembic import op
import sqlalchemy as sa

import portal.domain.base


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('staff_tokens',
    sa.Column('id', ID, nullable=False),
    sa.Column('staff_user_id', ID, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_staff_tokens_staff_user_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_staff_tokens_token_hash'))
    )
    with op.batch_alter_table('staff_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_tokens_staff_user_id'), ['staff_user_id'], unique=False)
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_id', ID, nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_api_keys_created_by_id_staff_users'), 'staff_users',
                                    ['created_by_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_api_keys_created_by_id'), ['created_by_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_created_by_id'))
        batch_op.drop_constraint(batch_op.f('fk_api_keys_created_by_id_staff_users'), type_='foreignkey')
        batch_op.drop_column('created_by_id')
    with op.batch_alter_table('staff_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_tokens_staff_user_id'))
    op.drop_table('staff_tokens')
