"""scheduled pulls from department databases, thematic libraries (R-AGG-2, R-AGG-5)

Revision ID: 20261122_0005
Revises: 20261122_0004
Create Date: 2026-11-22 04:50:18.942618
"""

import sqlalchemy as sa
from alembic import op

from gongshu.db import UTCDateTime

revision = '20261122_0005'
down_revision = '20261122_0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ingest_pull_source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('url_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('url_display', sa.String(length=300), nullable=False),
    sa.Column('table_name', sa.String(length=200), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('mode', sa.String(length=12), nullable=False),
    sa.Column('watermark_column', sa.String(length=100), nullable=False),
    sa.Column('last_watermark', sa.String(length=100), nullable=True),
    sa.Column('every_minutes', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('last_run_at', UTCDateTime(), nullable=True),
    sa.Column('last_load_id', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_ingest_pull_source_created_by_app_user')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_ingest_pull_source_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_ingest_pull_source_org_id_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_pull_source'))
    )
    with op.batch_alter_table('ingest_pull_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_pull_source_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ingest_pull_source_org_id'), ['org_id'], unique=False)

    op.create_table('library_theme',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_library_theme_created_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_theme')),
    sa.UniqueConstraint('code', name=op.f('uq_library_theme_code'))
    )
    op.create_table('library_theme_build',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('theme_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('table_name', sa.String(length=63), nullable=False),
    sa.Column('snapshot_path', sa.String(length=500), nullable=False),
    sa.Column('snapshot_sm3', sa.String(length=64), nullable=False),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('built_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['theme_id'], ['library_theme.id'], name=op.f('fk_library_theme_build_theme_id_library_theme'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_library_theme_build')),
    sa.UniqueConstraint('table_name', name=op.f('uq_library_theme_build_table_name'))
    )
    with op.batch_alter_table('library_theme_build', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_library_theme_build_theme_id'), ['theme_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('library_theme_build', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_library_theme_build_theme_id'))

    op.drop_table('library_theme_build')
    op.drop_table('library_theme')
    with op.batch_alter_table('ingest_pull_source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_pull_source_org_id'))
        batch_op.drop_index(batch_op.f('ix_ingest_pull_source_entry_id'))

    op.drop_table('ingest_pull_source')
