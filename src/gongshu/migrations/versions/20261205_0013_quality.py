"""Quality rules, checks and results (R-GOV-1)

Revision ID: 20261205_0013
Revises: 20261205_0012
Create Date: 2026-12-05 11:00:00
"""

import sqlalchemy as sa
from alembic import op

from gongshu.db import UTCDateTime

revision = '20261205_0013'
down_revision = '20261205_0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quality_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('dimension', sa.String(length=12), nullable=False),
    sa.Column('item', sa.String(length=100), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('tolerance', sa.Float(), nullable=False),
    sa.Column('origin', sa.String(length=10), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('retired_at', UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('active', 'retired')", name=op.f('ck_quality_rule_status')),
    sa.CheckConstraint("dimension IN ('normative', 'complete', 'accurate', 'consistent', 'timely', 'accessible')",
                       name=op.f('ck_quality_rule_dimension')),
    sa.CheckConstraint("severity IN ('critical', 'major', 'minor')", name=op.f('ck_quality_rule_severity')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_quality_rule_entry_id_catalog_entry'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_quality_rule_created_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_rule')),
    sa.UniqueConstraint('entry_id', 'key', 'version', name=op.f('uq_quality_rule_entry_id'))
    )
    with op.batch_alter_table('quality_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quality_rule_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quality_rule_status'), ['status'], unique=False)

    op.create_table('quality_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('version_number', sa.Integer(), nullable=True),
    sa.Column('trigger', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('rules', sa.Integer(), nullable=False),
    sa.Column('failed_rules', sa.Integer(), nullable=False),
    sa.Column('not_run', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('level', sa.Integer(), nullable=True),
    sa.Column('dimensions', sa.JSON(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('error_en', sa.Text(), nullable=False),
    sa.Column('latest', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name=op.f('ck_quality_check_status')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_quality_check_entry_id_catalog_entry'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_quality_check_org_id_org')),
    sa.ForeignKeyConstraint(['version_id'], ['ingest_version.id'],
                            name=op.f('fk_quality_check_version_id_ingest_version'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_check'))
    )
    with op.batch_alter_table('quality_check', schema=None) as batch_op:
        for col in ('entry_id', 'org_id', 'version_id', 'status', 'latest', 'created_at'):
            batch_op.create_index(batch_op.f(f'ix_quality_check_{col}'), [col], unique=False)

    op.create_table('quality_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('check_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('dimension', sa.String(length=12), nullable=False),
    sa.Column('checked', sa.BigInteger(), nullable=False),
    sa.Column('passed', sa.BigInteger(), nullable=False),
    sa.Column('ran', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('error_en', sa.Text(), nullable=False),
    sa.Column('failing_path', sa.String(length=500), nullable=True),
    sa.Column('sample', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['check_id'], ['quality_check.id'], name=op.f('fk_quality_result_check_id_quality_check'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['quality_rule.id'], name=op.f('fk_quality_result_rule_id_quality_rule'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_result'))
    )
    with op.batch_alter_table('quality_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quality_result_check_id'), ['check_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quality_result_rule_id'), ['rule_id'], unique=False)


def downgrade() -> None:
    op.drop_table('quality_result')
    op.drop_table('quality_check')
    op.drop_table('quality_rule')
