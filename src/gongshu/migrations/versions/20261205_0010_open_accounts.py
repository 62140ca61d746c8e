"""public accounts of the open data portal (R-OPN-3): natural and legal persons, real-name verification, API keys; applications for conditional data (R-OPN-2)

Revision ID: 20261205_0010
Revises: 20261205_0009
Create Date: 2026-12-05 09:30:00
"""

import sqlalchemy as sa
from alembic import op

from gongshu.db import UTCDateTime

revision = '20261205_0010'
down_revision = '20261205_0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('open_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('username', sa.String(length=40), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('real_name', sa.String(length=200), nullable=False),
    sa.Column('identifier_shown', sa.String(length=18), nullable=False),
    sa.Column('identifier_digest', sa.String(length=64), nullable=True),
    sa.Column('verified_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('verify_attempts', sa.Integer(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', UTCDateTime(timezone=True), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_account')),
    sa.UniqueConstraint('identifier_digest', name=op.f('uq_open_account_identifier_digest')),
    sa.UniqueConstraint('username', name=op.f('uq_open_account_username'))
    )
    op.create_table('open_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['open_account.id'], name=op.f('fk_open_session_account_id_open_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_open_session_token_hash'))
    )
    with op.batch_alter_table('open_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_session_account_id'), ['account_id'], unique=False)
    op.create_table('open_api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('rate_per_minute', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['open_account.id'], name=op.f('fk_open_api_key_account_id_open_account'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_api_key')),
    sa.UniqueConstraint('prefix', name=op.f('uq_open_api_key_prefix'))
    )
    with op.batch_alter_table('open_api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_api_key_account_id'), ['account_id'], unique=False)
    op.create_table('open_application',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('capability', sa.Text(), nullable=False),
    sa.Column('measures', sa.Text(), nullable=False),
    sa.Column('delivery', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('submitted_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('reply_due', sa.Date(), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('agreement_version', sa.String(length=20), nullable=False),
    sa.Column('agreement_sm3', sa.String(length=64), nullable=False),
    sa.Column('accepted_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['open_account.id'],
                            name=op.f('fk_open_application_account_id_open_account'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by'], ['app_user.id'], name=op.f('fk_open_application_decided_by_app_user')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'],
                            name=op.f('fk_open_application_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_open_application_org_id_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_application'))
    )
    with op.batch_alter_table('open_application', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_application_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_application_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_application_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_application_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('open_application', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_application_status'))
        batch_op.drop_index(batch_op.f('ix_open_application_org_id'))
        batch_op.drop_index(batch_op.f('ix_open_application_entry_id'))
        batch_op.drop_index(batch_op.f('ix_open_application_account_id'))
    op.drop_table('open_application')
    with op.batch_alter_table('open_api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_api_key_account_id'))
    op.drop_table('open_api_key')
    with op.batch_alter_table('open_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_session_account_id'))
    op.drop_table('open_session')
    op.drop_table('open_account')
