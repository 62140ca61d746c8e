"""the sharing system (数据共享系统, R-SHR-1 … R-SHR-10): requests, grants, applications with client
credentials, access events with subject digests, exchange packages, usage reports, emergencies

Revision ID: 20261205_0008
Revises: 20261205_0007
Create Date: 2026-12-05 05:01:24.737234
"""

import sqlalchemy as sa
from alembic import op

from gongshu.db import UTCDateTime

revision = '20261205_0008'
down_revision = '20261205_0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('share_access_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=True),
    sa.Column('consumer_org_id', sa.Integer(), nullable=True),
    sa.Column('source_org_id', sa.Integer(), nullable=True),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('end_user', sa.String(length=100), nullable=False),
    sa.Column('purpose', sa.String(length=100), nullable=False),
    sa.Column('operation', sa.String(length=20), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('keys', sa.Integer(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('result', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('latency_ms', sa.Double(), nullable=False),
    sa.Column('seal_seq', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_access_event'))
    )
    with op.batch_alter_table('share_access_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_access_event_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_access_event_consumer_org_id'), ['consumer_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_access_event_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_access_event_grant_id'), ['grant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_access_event_source_org_id'), ['source_org_id'], unique=False)

    op.create_table('share_access_subject',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('key_digest', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['share_access_event.id'], name=op.f('fk_share_access_subject_event_id_share_access_event'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'key_digest', name=op.f('pk_share_access_subject'))
    )
    with op.batch_alter_table('share_access_subject', schema=None) as batch_op:
        batch_op.create_index('ix_share_access_subject_digest', ['key_digest'], unique=False)

    op.create_table('share_application',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('client_id', sa.String(length=40), nullable=False),
    sa.Column('secret_sm3', sa.String(length=64), nullable=False),
    sa.Column('secret_hint', sa.String(length=8), nullable=False),
    sa.Column('rate_per_minute', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('rotated_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_share_application_created_by_app_user')),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_share_application_org_id_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_application')),
    sa.UniqueConstraint('client_id', name=op.f('uq_share_application_client_id'))
    )
    with op.batch_alter_table('share_application', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_application_org_id'), ['org_id'], unique=False)

    op.create_table('share_emergency',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('entry_ids', sa.JSON(), nullable=False),
    sa.Column('consumer_org_ids', sa.JSON(), nullable=False),
    sa.Column('starts_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('review', sa.Text(), nullable=False),
    sa.Column('declared_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['declared_by'], ['app_user.id'], name=op.f('fk_share_emergency_declared_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_emergency'))
    )
    op.create_table('share_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=30), nullable=False),
    sa.Column('consumer_org_id', sa.Integer(), nullable=False),
    sa.Column('source_org_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('entry_version', sa.Integer(), nullable=False),
    sa.Column('sharing_type', sa.String(length=10), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('row_scope', sa.JSON(), nullable=False),
    sa.Column('mode', sa.String(length=12), nullable=False),
    sa.Column('purpose_kind', sa.String(length=20), nullable=False),
    sa.Column('matter', sa.String(length=200), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('system_name', sa.String(length=200), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('term_days', sa.Integer(), nullable=False),
    sa.Column('demand_id', sa.Integer(), nullable=True),
    sa.Column('emergency_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reply_due', sa.Date(), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.Column('refusal_basis', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_by_org_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['share_application.id'], name=op.f('fk_share_request_application_id_share_application')),
    sa.ForeignKeyConstraint(['consumer_org_id'], ['org.id'], name=op.f('fk_share_request_consumer_org_id_org')),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_share_request_created_by_app_user')),
    sa.ForeignKeyConstraint(['decided_by'], ['app_user.id'], name=op.f('fk_share_request_decided_by_app_user')),
    sa.ForeignKeyConstraint(['decided_by_org_id'], ['org.id'], name=op.f('fk_share_request_decided_by_org_id_org')),
    sa.ForeignKeyConstraint(['demand_id'], ['catalog_demand.id'], name=op.f('fk_share_request_demand_id_catalog_demand'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['emergency_id'], ['share_emergency.id'], name=op.f('fk_share_request_emergency_id_share_emergency')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_share_request_entry_id_catalog_entry')),
    sa.ForeignKeyConstraint(['source_org_id'], ['org.id'], name=op.f('fk_share_request_source_org_id_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_request')),
    sa.UniqueConstraint('code', name=op.f('uq_share_request_code'))
    )
    with op.batch_alter_table('share_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_request_consumer_org_id'), ['consumer_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_request_demand_id'), ['demand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_request_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_request_source_org_id'), ['source_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_request_status'), ['status'], unique=False)

    op.create_table('share_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('consumer_org_id', sa.Integer(), nullable=False),
    sa.Column('source_org_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('mode', sa.String(length=12), nullable=False),
    sa.Column('purpose_kind', sa.String(length=20), nullable=False),
    sa.Column('matter', sa.String(length=200), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('row_scope', sa.JSON(), nullable=False),
    sa.Column('term_days', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('delivery_due', sa.Date(), nullable=True),
    sa.Column('delivered_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('agreement', sa.Text(), nullable=False),
    sa.Column('agreement_accepted_by', sa.Integer(), nullable=True),
    sa.Column('agreement_accepted_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('report_every_days', sa.Integer(), nullable=False),
    sa.Column('emergency_id', sa.Integer(), nullable=True),
    sa.Column('revoked_reason', sa.Text(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agreement_accepted_by'], ['app_user.id'], name=op.f('fk_share_grant_agreement_accepted_by_app_user')),
    sa.ForeignKeyConstraint(['application_id'], ['share_application.id'], name=op.f('fk_share_grant_application_id_share_application')),
    sa.ForeignKeyConstraint(['consumer_org_id'], ['org.id'], name=op.f('fk_share_grant_consumer_org_id_org')),
    sa.ForeignKeyConstraint(['emergency_id'], ['share_emergency.id'], name=op.f('fk_share_grant_emergency_id_share_emergency')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_share_grant_entry_id_catalog_entry')),
    sa.ForeignKeyConstraint(['request_id'], ['share_request.id'], name=op.f('fk_share_grant_request_id_share_request')),
    sa.ForeignKeyConstraint(['source_org_id'], ['org.id'], name=op.f('fk_share_grant_source_org_id_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_grant')),
    sa.UniqueConstraint('request_id', name=op.f('uq_share_grant_request_id'))
    )
    with op.batch_alter_table('share_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_grant_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_grant_consumer_org_id'), ['consumer_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_grant_emergency_id'), ['emergency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_grant_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_grant_expires_on'), ['expires_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_grant_source_org_id'), ['source_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_share_grant_status'), ['status'], unique=False)

    op.create_table('share_package',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('since_version_id', sa.Integer(), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('sm3', sa.String(length=64), nullable=False),
    sa.Column('manifest', sa.JSON(), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('received_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_by', sa.Integer(), nullable=True),
    sa.Column('destroyed_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('destroyed_note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_share_package_created_by_app_user')),
    sa.ForeignKeyConstraint(['grant_id'], ['share_grant.id'], name=op.f('fk_share_package_grant_id_share_grant')),
    sa.ForeignKeyConstraint(['received_by'], ['app_user.id'], name=op.f('fk_share_package_received_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_package'))
    )
    with op.batch_alter_table('share_package', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_package_grant_id'), ['grant_id'], unique=False)

    op.create_table('share_usage_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('filed_by', sa.Integer(), nullable=True),
    sa.Column('filed_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['filed_by'], ['app_user.id'], name=op.f('fk_share_usage_report_filed_by_app_user')),
    sa.ForeignKeyConstraint(['grant_id'], ['share_grant.id'], name=op.f('fk_share_usage_report_grant_id_share_grant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_usage_report'))
    )
    with op.batch_alter_table('share_usage_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_usage_report_grant_id'), ['grant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('share_usage_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_usage_report_grant_id'))

    op.drop_table('share_usage_report')
    with op.batch_alter_table('share_package', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_package_grant_id'))

    op.drop_table('share_package')
    with op.batch_alter_table('share_grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_grant_status'))
        batch_op.drop_index(batch_op.f('ix_share_grant_source_org_id'))
        batch_op.drop_index(batch_op.f('ix_share_grant_expires_on'))
        batch_op.drop_index(batch_op.f('ix_share_grant_entry_id'))
        batch_op.drop_index(batch_op.f('ix_share_grant_emergency_id'))
        batch_op.drop_index(batch_op.f('ix_share_grant_consumer_org_id'))
        batch_op.drop_index(batch_op.f('ix_share_grant_application_id'))

    op.drop_table('share_grant')
    with op.batch_alter_table('share_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_request_status'))
        batch_op.drop_index(batch_op.f('ix_share_request_source_org_id'))
        batch_op.drop_index(batch_op.f('ix_share_request_entry_id'))
        batch_op.drop_index(batch_op.f('ix_share_request_demand_id'))
        batch_op.drop_index(batch_op.f('ix_share_request_consumer_org_id'))

    op.drop_table('share_request')
    op.drop_table('share_emergency')
    with op.batch_alter_table('share_application', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_application_org_id'))

    op.drop_table('share_application')
    with op.batch_alter_table('share_access_subject', schema=None) as batch_op:
        batch_op.drop_index('ix_share_access_subject_digest')

    op.drop_table('share_access_subject')
    with op.batch_alter_table('share_access_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_access_event_source_org_id'))
        batch_op.drop_index(batch_op.f('ix_share_access_event_grant_id'))
        batch_op.drop_index(batch_op.f('ix_share_access_event_entry_id'))
        batch_op.drop_index(batch_op.f('ix_share_access_event_consumer_org_id'))
        batch_op.drop_index(batch_op.f('ix_share_access_event_at'))

    op.drop_table('share_access_event')
