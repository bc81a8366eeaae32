"""Partner apps (portals) and OAuth grants: codes, tokens, consents

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 11:53:16.748953
"""
from alembic import op
import sqlalchemy as sa
import portal.domain.base


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('portals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('organization_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('custom_attributes', sa.JSON(), nullable=False),
    sa.Column('links', sa.JSON(), nullable=False),
    sa.Column('theme', sa.JSON(), nullable=False),
    sa.Column('forms', sa.JSON(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('loyalty_program_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('auth_redirect_url', sa.String(length=2000), nullable=False),
    sa.Column('auth_valid_scopes', sa.JSON(), nullable=False),
    sa.Column('client_type', sa.String(length=16), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('client_secret_hash', sa.String(length=64), nullable=True),
    sa.Column('secret_rotated_at', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['loyalty_program_id'], ['loyalty_programs.id'], name=op.f('fk_portals_loyalty_program_id_loyalty_programs')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_portals_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portals')),
    sa.UniqueConstraint('client_id', name=op.f('uq_portals_client_id')),
    sa.UniqueConstraint('public_id', name=op.f('uq_portals_public_id'))
    )
    with op.batch_alter_table('portals', schema=None) as batch_op:
        batch_op.create_index('ix_portals_org_created', ['organization_id', 'created_at'], unique=False)

    op.create_table('oauth_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('organization_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('app_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('redirect_uri', sa.String(length=2000), nullable=False),
    sa.Column('scope', sa.String(length=500), nullable=False),
    sa.Column('nonce', sa.String(length=255), nullable=True),
    sa.Column('code_challenge', sa.String(length=128), nullable=False),
    sa.Column('code_challenge_method', sa.String(length=8), nullable=False),
    sa.Column('auth_time', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['portals.id'], name=op.f('fk_oauth_codes_app_id_portals')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_oauth_codes_member_id_members')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_oauth_codes_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_oauth_codes_code_hash'))
    )
    with op.batch_alter_table('oauth_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_codes_app_id'), ['app_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_codes_member_id'), ['member_id'], unique=False)

    op.create_table('oauth_consents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('organization_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('app_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scope', sa.String(length=500), nullable=False),
    sa.Column('created_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['portals.id'], name=op.f('fk_oauth_consents_app_id_portals')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_oauth_consents_member_id_members')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_oauth_consents_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_consents'))
    )
    with op.batch_alter_table('oauth_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_consents_app_id'), ['app_id'], unique=False)
        batch_op.create_index('ix_oauth_consents_member_app', ['member_id', 'app_id'], unique=False)

    op.create_table('oauth_tokens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('organization_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('app_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('code_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('family_id', sa.String(length=32), nullable=False),
    sa.Column('grant_type', sa.String(length=32), nullable=False),
    sa.Column('access_token_hash', sa.String(length=64), nullable=False),
    sa.Column('refresh_token_hash', sa.String(length=64), nullable=True),
    sa.Column('scope', sa.String(length=500), nullable=False),
    sa.Column('issued_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', portal.domain.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('refresh_expires_at', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refresh_used_at', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', portal.domain.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['portals.id'], name=op.f('fk_oauth_tokens_app_id_portals')),
    sa.ForeignKeyConstraint(['code_id'], ['oauth_codes.id'], name=op.f('fk_oauth_tokens_code_id_oauth_codes')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_oauth_tokens_member_id_members')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_oauth_tokens_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_tokens')),
    sa.UniqueConstraint('access_token_hash', name=op.f('uq_oauth_tokens_access_token_hash')),
    sa.UniqueConstraint('refresh_token_hash', name=op.f('uq_oauth_tokens_refresh_token_hash'))
    )
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_tokens_app_id'), ['app_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_tokens_code_id'), ['code_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_tokens_family_id'), ['family_id'], unique=False)
        batch_op.create_index('ix_oauth_tokens_member_app', ['member_id', 'app_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_oauth_tokens_member_app')
        batch_op.drop_index(batch_op.f('ix_oauth_tokens_family_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_tokens_code_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_tokens_app_id'))

    op.drop_table('oauth_tokens')
    with op.batch_alter_table('oauth_consents', schema=None) as batch_op:
        batch_op.drop_index('ix_oauth_consents_member_app')
        batch_op.drop_index(batch_op.f('ix_oauth_consents_app_id'))

    op.drop_table('oauth_consents')
    with op.batch_alter_table('oauth_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_oauth_codes_member_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_codes_app_id'))

    op.drop_table('oauth_codes')
    with op.batch_alter_table('portals', schema=None) as batch_op:
        batch_op.drop_index('ix_portals_org_created')

    op.drop_table('portals')
