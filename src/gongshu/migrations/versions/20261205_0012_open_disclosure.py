"""双公示 publication tracking (R-OPN-9) and the yearly open catalogue adjustment (R-OPN-1)

Revision ID: 20261205_0012
Revises: 20261205_0011
Create Date: 2026-12-05 09:30:00
"""

import sqlalchemy as sa
from alembic import op

from gongshu.db import UTCDateTime

revision = '20261205_0012'
down_revision = '20261205_0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('open_disclosure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('date_item', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('flagged_by', sa.Integer(), nullable=True),
    sa.Column('flagged_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_open_disclosure_entry_id_catalog_entry'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['flagged_by'], ['app_user.id'], name=op.f('fk_open_disclosure_flagged_by_app_user')),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_open_disclosure_org_id_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_disclosure')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_open_disclosure_entry_id'))
    )
    with op.batch_alter_table('open_disclosure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_disclosure_active'), ['active'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_disclosure_org_id'), ['org_id'], unique=False)

    op.create_table('open_disclosure_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('version_number', sa.Integer(), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=14), nullable=False),
    sa.Column('rows_new', sa.Integer(), nullable=False),
    sa.Column('rows_checked', sa.Integer(), nullable=False),
    sa.Column('rows_invalid', sa.Integer(), nullable=False),
    sa.Column('rows_late', sa.Integer(), nullable=False),
    sa.Column('worst_lag', sa.Integer(), nullable=True),
    sa.Column('sample', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reason_en', sa.Text(), nullable=False),
    sa.Column('checked_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.Column('explained_by', sa.Integer(), nullable=True),
    sa.Column('explained_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['dataset_id'], ['open_disclosure.id'],
                            name=op.f('fk_open_disclosure_check_dataset_id_open_disclosure'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'],
                            name=op.f('fk_open_disclosure_check_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['explained_by'], ['app_user.id'],
                            name=op.f('fk_open_disclosure_check_explained_by_app_user')),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_open_disclosure_check_org_id_org')),
    sa.ForeignKeyConstraint(['version_id'], ['ingest_version.id'],
                            name=op.f('fk_open_disclosure_check_version_id_ingest_version'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_disclosure_check')),
    sa.UniqueConstraint('version_id', name=op.f('uq_open_disclosure_check_version_id'))
    )
    with op.batch_alter_table('open_disclosure_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_disclosure_check_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_disclosure_check_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_disclosure_check_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_disclosure_check_status'), ['status'], unique=False)

    op.create_table('open_adjustment_round',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('closes_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('opened_by', sa.Integer(), nullable=True),
    sa.Column('opened_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_by', sa.Integer(), nullable=True),
    sa.Column('closed_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['closed_by'], ['app_user.id'], name=op.f('fk_open_adjustment_round_closed_by_app_user')),
    sa.ForeignKeyConstraint(['opened_by'], ['app_user.id'], name=op.f('fk_open_adjustment_round_opened_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_adjustment_round')),
    sa.UniqueConstraint('year', name=op.f('uq_open_adjustment_round_year'))
    )
    with op.batch_alter_table('open_adjustment_round', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_adjustment_round_status'), ['status'], unique=False)

    op.create_table('open_adjustment_proposal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('open_type', sa.String(length=10), nullable=False),
    sa.Column('open_condition', sa.Text(), nullable=False),
    sa.Column('livelihood', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('proposed_by', sa.Integer(), nullable=True),
    sa.Column('proposed_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['decided_by'], ['app_user.id'],
                            name=op.f('fk_open_adjustment_proposal_decided_by_app_user')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'],
                            name=op.f('fk_open_adjustment_proposal_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_open_adjustment_proposal_org_id_org')),
    sa.ForeignKeyConstraint(['proposed_by'], ['app_user.id'],
                            name=op.f('fk_open_adjustment_proposal_proposed_by_app_user')),
    sa.ForeignKeyConstraint(['round_id'], ['open_adjustment_round.id'],
                            name=op.f('fk_open_adjustment_proposal_round_id_open_adjustment_round'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_adjustment_proposal'))
    )
    with op.batch_alter_table('open_adjustment_proposal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_adjustment_proposal_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_adjustment_proposal_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_adjustment_proposal_round_id'), ['round_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_adjustment_proposal_status'), ['status'], unique=False)

    op.create_table('open_priority',
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=20), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=True),
    sa.Column('set_by', sa.Integer(), nullable=True),
    sa.Column('set_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_open_priority_entry_id_catalog_entry'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['open_adjustment_round.id'],
                            name=op.f('fk_open_priority_round_id_open_adjustment_round'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['set_by'], ['app_user.id'], name=op.f('fk_open_priority_set_by_app_user')),
    sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_open_priority'))
    )


def downgrade() -> None:
    op.drop_table('open_priority')
    with op.batch_alter_table('open_adjustment_proposal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_adjustment_proposal_status'))
        batch_op.drop_index(batch_op.f('ix_open_adjustment_proposal_round_id'))
        batch_op.drop_index(batch_op.f('ix_open_adjustment_proposal_org_id'))
        batch_op.drop_index(batch_op.f('ix_open_adjustment_proposal_entry_id'))
    op.drop_table('open_adjustment_proposal')
    with op.batch_alter_table('open_adjustment_round', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_adjustment_round_status'))
    op.drop_table('open_adjustment_round')
    with op.batch_alter_table('open_disclosure_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_disclosure_check_status'))
        batch_op.drop_index(batch_op.f('ix_open_disclosure_check_org_id'))
        batch_op.drop_index(batch_op.f('ix_open_disclosure_check_entry_id'))
        batch_op.drop_index(batch_op.f('ix_open_disclosure_check_dataset_id'))
    op.drop_table('open_disclosure_check')
    with op.batch_alter_table('open_disclosure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_disclosure_org_id'))
        batch_op.drop_index(batch_op.f('ix_open_disclosure_active'))
    op.drop_table('open_disclosure')
