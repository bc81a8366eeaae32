"""session_version on members and staff users: logout, a new password, deactivation
and erasure end every browser session of that person (portal/domain/sessions.py)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
# Written beside another branch's 0002: the integrator re-chains this after 0002 when merging.
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("members", "staff_users"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    for table in ("staff_users", "members"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("session_version")
