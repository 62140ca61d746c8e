"""Cross-source comparisons, sensitive-data scans and grading suggestions (R-GOV-4)

Revision ID: 20261205_0015
Revises: 20261205_0014
Create Date: 2026-12-05 11:00:00
"""

import sqlalchemy as sa
from alembic import op

from gongshu.db import UTCDateTime

revision = '20261205_0015'
down_revision = '20261205_0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quality_compare',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('element_id', sa.Integer(), nullable=False),
    sa.Column('element_code', sa.String(length=40), nullable=False),
    sa.Column('element_name', sa.String(length=100), nullable=False),
    sa.Column('subject_kind', sa.String(length=4), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('legal_org_id', sa.Integer(), nullable=True),
    sa.Column('legal_entry_id', sa.Integer(), nullable=True),
    sa.Column('trigger_version_id', sa.Integer(), nullable=True),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('org_ids', sa.JSON(), nullable=False),
    sa.Column('subjects', sa.BigInteger(), nullable=False),
    sa.Column('conflicts', sa.BigInteger(), nullable=False),
    sa.Column('legal_conflicts', sa.BigInteger(), nullable=False),
    sa.Column('formatting', sa.BigInteger(), nullable=False),
    sa.Column('pairs', sa.JSON(), nullable=False),
    sa.Column('conflicts_path', sa.String(length=500), nullable=True),
    sa.Column('sample', sa.JSON(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=True),
    sa.Column('library_routed', sa.BigInteger(), nullable=False),
    sa.Column('latest', sa.Boolean(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('error_en', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('done', 'no_source', 'failed')", name=op.f('ck_quality_compare_status')),
    sa.ForeignKeyConstraint(['element_id'], ['data_element.id'],
                            name=op.f('fk_quality_compare_element_id_data_element'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['legal_org_id'], ['org.id'], name=op.f('fk_quality_compare_legal_org_id_org')),
    sa.ForeignKeyConstraint(['legal_entry_id'], ['catalog_entry.id'],
                            name=op.f('fk_quality_compare_legal_entry_id_catalog_entry'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['trigger_version_id'], ['ingest_version.id'],
                            name=op.f('fk_quality_compare_trigger_version_id_ingest_version'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_compare'))
    )
    with op.batch_alter_table('quality_compare', schema=None) as batch_op:
        for col in ('element_id', 'status', 'legal_org_id', 'legal_entry_id', 'issue_id', 'latest', 'created_at'):
            batch_op.create_index(batch_op.f(f'ix_quality_compare_{col}'), [col], unique=False)

    op.create_table('quality_scan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('version_number', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('sampled', sa.Integer(), nullable=False),
    sa.Column('recognizers', sa.JSON(), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.Column('suggestions', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('error_en', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('done', 'failed')", name=op.f('ck_quality_scan_status')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_quality_scan_entry_id_catalog_entry'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_quality_scan_org_id_org')),
    sa.ForeignKeyConstraint(['version_id'], ['ingest_version.id'],
                            name=op.f('fk_quality_scan_version_id_ingest_version'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_scan'))
    )
    with op.batch_alter_table('quality_scan', schema=None) as batch_op:
        for col in ('entry_id', 'org_id', 'version_id', 'created_at'):
            batch_op.create_index(batch_op.f(f'ix_quality_scan_{col}'), [col], unique=False)

    op.create_table('quality_grading_suggestion',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scan_id', sa.Integer(), nullable=True),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('catalog_version', sa.Integer(), nullable=False),
    sa.Column('item', sa.String(length=100), nullable=False),
    sa.Column('recognizer', sa.String(length=20), nullable=False),
    sa.Column('matched', sa.Integer(), nullable=False),
    sa.Column('values', sa.Integer(), nullable=False),
    sa.Column('share', sa.Float(), nullable=False),
    sa.Column('declared_grade', sa.String(length=10), nullable=False),
    sa.Column('declared_personal', sa.Boolean(), nullable=False),
    sa.Column('suggested_grade', sa.String(length=10), nullable=False),
    sa.Column('suggested_personal', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reason_en', sa.Text(), nullable=False),
    sa.Column('sample', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.Column('applied_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'accepted', 'dismissed')",
                       name=op.f('ck_quality_grading_suggestion_status')),
    sa.ForeignKeyConstraint(['scan_id'], ['quality_scan.id'],
                            name=op.f('fk_quality_grading_suggestion_scan_id_quality_scan'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'],
                            name=op.f('fk_quality_grading_suggestion_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_quality_grading_suggestion_org_id_org')),
    sa.ForeignKeyConstraint(['version_id'], ['ingest_version.id'],
                            name=op.f('fk_quality_grading_suggestion_version_id_ingest_version'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['decided_by'], ['app_user.id'],
                            name=op.f('fk_quality_grading_suggestion_decided_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quality_grading_suggestion'))
    )
    with op.batch_alter_table('quality_grading_suggestion', schema=None) as batch_op:
        for col in ('scan_id', 'entry_id', 'org_id', 'status', 'created_at'):
            batch_op.create_index(batch_op.f(f'ix_quality_grading_suggestion_{col}'), [col], unique=False)


def downgrade() -> None:
    op.drop_table('quality_grading_suggestion')
    op.drop_table('quality_scan')
    op.drop_table('quality_compare')
