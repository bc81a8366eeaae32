"""mail deliveries: mail sent by the worker from the outbox, with retries

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 14:50:00
"""
from alembic import op
import sqlalchemy as sa
import portal.domain.base


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mail_deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('organization_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('outbox_event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('template', sa.String(length=100), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempt_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('next_attempt_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claim_token', sa.String(length=32), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('created_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_mail_deliveries_organization_id_organizations')),
    sa.ForeignKeyConstraint(['outbox_event_id'], ['outbox_events.id'], name=op.f('fk_mail_deliveries_outbox_event_id_outbox_events')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_deliveries')),
    sa.UniqueConstraint('outbox_event_id', name=op.f('uq_mail_deliveries_outbox_event_id'))
    )
    with op.batch_alter_table('mail_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_deliveries_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_mail_deliveries_due', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mail_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_mail_deliveries_due')
        batch_op.drop_index(batch_op.f('ix_mail_deliveries_organization_id'))
    op.drop_table('mail_deliveries')
