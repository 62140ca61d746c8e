"""the open data system (数据开放系统): the review before opening (R-OPN-6)

Revision ID: 20261205_0009
Revises: 20261205_0008
Create Date: 2026-12-05 09:00:00
"""

import sqlalchemy as sa
from alembic import op

from gongshu.db import UTCDateTime

revision = '20261205_0009'
down_revision = '20261205_0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('open_review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('catalog_version', sa.Integer(), nullable=False),
    sa.Column('confidentiality', sa.Text(), nullable=False),
    sa.Column('risk_assessment', sa.Text(), nullable=False),
    sa.Column('risk_level', sa.String(length=2), nullable=False),
    sa.Column('measures', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('submitted_by', sa.Integer(), nullable=True),
    sa.Column('submitted_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['decided_by'], ['app_user.id'], name=op.f('fk_open_review_decided_by_app_user')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_open_review_entry_id_catalog_entry'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_open_review_org_id_org')),
    sa.ForeignKeyConstraint(['submitted_by'], ['app_user.id'], name=op.f('fk_open_review_submitted_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_review'))
    )
    with op.batch_alter_table('open_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_review_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_review_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_review_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('open_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_review_status'))
        batch_op.drop_index(batch_op.f('ix_open_review_org_id'))
        batch_op.drop_index(batch_op.f('ix_open_review_entry_id'))
    op.drop_table('open_review')
