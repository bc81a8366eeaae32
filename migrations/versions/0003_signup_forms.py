"""Embeddable signup forms and the members who joined through them (issue 9).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 11:52:52.230418
"""
from alembic import op
import sqlalchemy as sa
import portal.domain.base


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signup_forms',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('organization_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('consents', sa.JSON(), nullable=False),
    sa.Column('thank_you_text', sa.String(length=2000), nullable=False),
    sa.Column('redirect_url', sa.String(length=1000), nullable=True),
    sa.Column('allowed_origins', sa.JSON(), nullable=False),
    sa.Column('coupon_book_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['coupon_book_id'], ['coupon_books.id'], name=op.f('fk_signup_forms_coupon_book_id_coupon_books')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_signup_forms_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signup_forms')),
    sa.UniqueConstraint('public_id', name=op.f('uq_signup_forms_public_id'))
    )
    with op.batch_alter_table('signup_forms', schema=None) as batch_op:
        batch_op.create_index('ix_signup_forms_org_created', ['organization_id', 'created_at'], unique=False)

    op.create_table('signup_form_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('organization_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('form_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('consents', sa.JSON(), nullable=False),
    sa.Column('coupon_assigned', sa.Boolean(), nullable=False),
    sa.Column('coupon_refusal', sa.String(length=50), nullable=True),
    sa.Column('created_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['form_id'], ['signup_forms.id'], name=op.f('fk_signup_form_entries_form_id_signup_forms')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_signup_form_entries_member_id_members')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_signup_form_entries_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signup_form_entries')),
    sa.UniqueConstraint('member_id', name=op.f('uq_signup_form_entries_member_id'))
    )
    with op.batch_alter_table('signup_form_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signup_form_entries_form_id'), ['form_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('signup_form_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signup_form_entries_form_id'))

    op.drop_table('signup_form_entries')
    with op.batch_alter_table('signup_forms', schema=None) as batch_op:
        batch_op.drop_index('ix_signup_forms_org_created')

    op.drop_table('signup_forms')
