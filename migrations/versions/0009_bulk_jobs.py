"""bulk jobs: member imports and points grants run by the worker in batches, with the rows of each
imported file

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 12:41:18
"""
from alembic import op
import sqlalchemy as sa
import portal.domain.base


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bulk_jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('organization_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('started_by_kind', sa.String(length=20), nullable=False),
    sa.Column('started_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('started_by_label', sa.String(length=254), nullable=False),
    sa.Column('total', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('done', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('skipped', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refused', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('cursor', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('error', sa.String(length=1000), nullable=False),
    sa.Column('created_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_bulk_jobs_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulk_jobs')),
    sa.UniqueConstraint('organization_id', 'kind', 'key', name=op.f('uq_bulk_jobs_organization_id_kind_key'))
    )
    with op.batch_alter_table('bulk_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulk_jobs_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_bulk_jobs_status', ['status', 'id'], unique=False)

    op.create_table('bulk_job_rows',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=254), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('problem', sa.String(length=500), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['bulk_jobs.id'], name=op.f('fk_bulk_job_rows_job_id_bulk_jobs')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_bulk_job_rows_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulk_job_rows')),
    sa.UniqueConstraint('job_id', 'line', name=op.f('uq_bulk_job_rows_job_id_line'))
    )


def downgrade() -> None:
    op.drop_table('bulk_job_rows')
    with op.batch_alter_table('bulk_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_bulk_jobs_status')
        batch_op.drop_index(batch_op.f('ix_bulk_jobs_organization_id'))

    op.drop_table('bulk_jobs')
