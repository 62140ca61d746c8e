"""Data issues (问题数据) and their timeline (R-GOV-2, R-GOV-3)

Revision ID: 20261205_0014
Revises: 20261205_0013
Create Date: 2026-12-05 11:00:00
"""

import sqlalchemy as sa
from alembic import op

from gongshu.db import UTCDateTime

revision = '20261205_0014'
down_revision = '20261205_0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quality_issue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('version_number', sa.Integer(), nullable=True),
    sa.Column('item', sa.String(length=100), nullable=False),
    sa.Column('row_ref', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=12), nullable=False),
    sa.Column('origin_type', sa.String(length=40), nullable=False),
    sa.Column('origin_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=300), nullable=True),
    sa.Column('open_key', sa.String(length=300), nullable=True),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('reporter_org_id', sa.Integer(), nullable=True),
    sa.Column('reporter_user_id', sa.Integer(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('dispute_until', sa.Date(), nullable=True),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('outcome_note', sa.Text(), nullable=False),
    sa.Column('fixed_version', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'fixing', 'escalated', 'corrected', 'confirmed', 'negotiated', "
                       "'withdrawn')", name=op.f('ck_quality_issue_status')),
    sa.CheckConstraint("channel IN ('rule', 'compare', 'consumer', 'public', 'recognizer')",
                       name=op.f('ck_quality_issue_channel')),
    sa.CheckConstraint("severity IN ('critical', 'major', 'minor')", name=op.f('ck_quality_issue_severity')),
    sa.CheckConstraint('stage BETWEEN 0 AND 4', name=op.f('ck_quality_issue_stage')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_quality_issue_entry_id_catalog_entry'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_quality_issue_org_id_org')),
    sa.ForeignKeyConstraint(['version_id'], ['ingest_version.id'],
                            name=op.f('fk_quality_issue_version_id_ingest_version'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reporter_org_id'], ['org.id'], name=op.f('fk_quality_issue_reporter_org_id_org')),
    sa.ForeignKeyConstraint(['reporter_user_id'], ['app_user.id'],
                            name=op.f('fk_quality_issue_reporter_user_id_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_issue')),
    sa.UniqueConstraint('open_key', name=op.f('uq_quality_issue_open_key'))
    )
    with op.batch_alter_table('quality_issue', schema=None) as batch_op:
        for col in ('entry_id', 'org_id', 'channel', 'severity', 'status', 'dedupe_key', 'reporter_org_id', 'due_on',
                    'created_at'):
            batch_op.create_index(batch_op.f(f'ix_quality_issue_{col}'), [col], unique=False)

    op.create_table('quality_issue_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('from_status', sa.String(length=12), nullable=False),
    sa.Column('to_status', sa.String(length=12), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('record', sa.JSON(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['quality_issue.id'],
                            name=op.f('fk_quality_issue_step_issue_id_quality_issue'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['actor_user_id'], ['app_user.id'],
                            name=op.f('fk_quality_issue_step_actor_user_id_app_user')),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_quality_issue_step_org_id_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_issue_step'))
    )
    with op.batch_alter_table('quality_issue_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quality_issue_step_issue_id'), ['issue_id'], unique=False)


def downgrade() -> None:
    op.drop_table('quality_issue_step')
    op.drop_table('quality_issue')
