"""aggregation and base libraries: loads, data versions, policies, freshness, uploads, library
builds and conflicts (R-AGG-1, R-AGG-2, R-AGG-4, R-AGG-6)

Revision ID: 20261122_0004
Revises: 20261122_0003
Create Date: 2026-11-22 04:25:42.262686
"""

import sqlalchemy as sa
from alembic import op

from gongshu.db import UTCDateTime

revision = '20261122_0004'
down_revision = '20261122_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('library_build',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('table_name', sa.String(length=63), nullable=False),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('subjects', sa.BigInteger(), nullable=False),
    sa.Column('conflicts', sa.BigInteger(), nullable=False),
    sa.Column('seconds', sa.Double(), nullable=False),
    sa.Column('built_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_build')),
    sa.UniqueConstraint('table_name', name=op.f('uq_library_build_table_name'))
    )
    with op.batch_alter_table('library_build', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_library_build_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_library_build_status'), ['status'], unique=False)

    op.create_table('library_conflict',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('build_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=40), nullable=False),
    sa.Column('attribute', sa.String(length=100), nullable=False),
    sa.Column('chosen_value', sa.Text(), nullable=False),
    sa.Column('chosen_entry_id', sa.Integer(), nullable=False),
    sa.Column('other_value', sa.Text(), nullable=False),
    sa.Column('other_entry_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['build_id'], ['library_build.id'], name=op.f('fk_library_conflict_build_id_library_build'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_conflict'))
    )
    with op.batch_alter_table('library_conflict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_library_conflict_build_id'), ['build_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_library_conflict_subject'), ['subject'], unique=False)

    op.create_table('ingest_late',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('detected_on', sa.Date(), nullable=False),
    sa.Column('loaded_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_ingest_late_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_ingest_late_org_id_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_late')),
    sa.UniqueConstraint('entry_id', 'due_date', name=op.f('uq_ingest_late_entry_id_due_date'))
    )
    with op.batch_alter_table('ingest_late', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_late_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_late_org_id'), ['org_id'], unique=False)

    op.create_table('ingest_load',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=True),
    sa.Column('encoding', sa.String(length=20), nullable=True),
    sa.Column('source_size', sa.BigInteger(), nullable=False),
    sa.Column('source_sm3', sa.String(length=64), nullable=False),
    sa.Column('catalog_version', sa.Integer(), nullable=False),
    sa.Column('rows_read', sa.BigInteger(), nullable=False),
    sa.Column('rows_valid', sa.BigInteger(), nullable=False),
    sa.Column('rows_rejected', sa.BigInteger(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('error_en', sa.Text(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=True),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_ingest_load_created_by_app_user')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_ingest_load_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_ingest_load_org_id_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_load')),
    sa.UniqueConstraint('entry_id', 'idempotency_key', name=op.f('uq_ingest_load_entry_id_idempotency_key'))
    )
    with op.batch_alter_table('ingest_load', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_load_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_load_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_load_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_load_status'), ['status'], unique=False)

    op.create_table('ingest_policy',
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('max_error_rate', sa.Float(), nullable=False),
    sa.Column('keep_versions', sa.Integer(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_ingest_policy_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_ingest_policy'))
    )
    op.create_table('ingest_upload',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('received', sa.BigInteger(), nullable=False),
    sa.Column('sm3', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_ingest_upload_created_by_app_user')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_ingest_upload_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['load_id'], ['ingest_load.id'], name=op.f('fk_ingest_upload_load_id_ingest_load')),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_ingest_upload_org_id_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_upload'))
    )
    with op.batch_alter_table('ingest_upload', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_upload_entry_id'), ['entry_id'], unique=False)

    op.create_table('ingest_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('based_on_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('table_name', sa.String(length=63), nullable=False),
    sa.Column('snapshot_path', sa.String(length=500), nullable=False),
    sa.Column('snapshot_sm3', sa.String(length=64), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('catalog_version', sa.Integer(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('added', sa.BigInteger(), nullable=False),
    sa.Column('changed', sa.BigInteger(), nullable=False),
    sa.Column('deleted', sa.BigInteger(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expired_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['based_on_id'], ['ingest_version.id'], name=op.f('fk_ingest_version_based_on_id_ingest_version')),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_ingest_version_created_by_app_user')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_ingest_version_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['load_id'], ['ingest_load.id'], name=op.f('fk_ingest_version_load_id_ingest_load')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_version')),
    sa.UniqueConstraint('entry_id', 'number', name=op.f('uq_ingest_version_entry_id_number')),
    sa.UniqueConstraint('table_name', name=op.f('uq_ingest_version_table_name'))
    )
    with op.batch_alter_table('ingest_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_version_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_version_status'), ['status'], unique=False)

    op.create_table('ingest_entry_data',
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('current_version_id', sa.Integer(), nullable=True),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('update_cycle', sa.String(length=10), nullable=False),
    sa.Column('last_loaded_on', sa.Date(), nullable=True),
    sa.Column('next_due', sa.Date(), nullable=True),
    sa.Column('late_count', sa.Integer(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['current_version_id'], ['ingest_version.id'], name=op.f('fk_ingest_entry_data_current_version_id_ingest_version')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_ingest_entry_data_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_ingest_entry_data_org_id_org')),
    sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_ingest_entry_data'))
    )
    with op.batch_alter_table('ingest_entry_data', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_entry_data_next_due'), ['next_due'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_entry_data_org_id'), ['org_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ingest_entry_data', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_entry_data_org_id'))
        batch_op.drop_index(batch_op.f('ix_ingest_entry_data_next_due'))

    op.drop_table('ingest_entry_data')
    with op.batch_alter_table('ingest_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_version_status'))
        batch_op.drop_index(batch_op.f('ix_ingest_version_entry_id'))

    op.drop_table('ingest_version')
    with op.batch_alter_table('ingest_upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_upload_entry_id'))

    op.drop_table('ingest_upload')
    op.drop_table('ingest_policy')
    with op.batch_alter_table('ingest_load', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_load_status'))
        batch_op.drop_index(batch_op.f('ix_ingest_load_org_id'))
        batch_op.drop_index(batch_op.f('ix_ingest_load_entry_id'))
        batch_op.drop_index(batch_op.f('ix_ingest_load_created_at'))

    op.drop_table('ingest_load')
    with op.batch_alter_table('ingest_late', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_late_org_id'))
        batch_op.drop_index(batch_op.f('ix_ingest_late_entry_id'))

    op.drop_table('ingest_late')
    with op.batch_alter_table('library_conflict', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_library_conflict_subject'))
        batch_op.drop_index(batch_op.f('ix_library_conflict_build_id'))

    op.drop_table('library_conflict')
    with op.batch_alter_table('library_build', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_library_build_status'))
        batch_op.drop_index(batch_op.f('ix_library_build_kind'))

    op.drop_table('library_build')
