"""staff emails are unique per organisation, not across organisations

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 13:10:00
"""
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('uq_staff_users_email'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_staff_users_organization_id_email'), ['organization_id', 'email'])


def downgrade() -> None:
    # Fails if an email is now used in two organisations: that data has no place in the old schema.
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('uq_staff_users_organization_id_email'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_staff_users_email'), ['email'])
