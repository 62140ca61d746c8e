"""open data requests (R-OPN-4) and error reports (R-OPN-5)

Revision ID: 20261205_0011
Revises: 20261205_0010
Create Date: 2026-12-05 09:30:00
"""

import sqlalchemy as sa
from alembic import op

from gongshu.db import UTCDateTime

revision = '20261205_0011'
down_revision = '20261205_0010'
branch_labels = None
depends_on = None

REQUEST_STATUS = ('submitted', 'routed', 'planned', 'fulfilled', 'refused', 'duplicate', 'out_of_scope', 'withdrawn')
REPORT_STATUS = ('open', 'accepted', 'fixed', 'rejected')


def _in(values: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table('open_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('contact_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('token_sm3', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('dept_org_id', sa.Integer(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('duplicate_of_id', sa.Integer(), nullable=True),
    sa.Column('dataset_entry_id', sa.Integer(), nullable=True),
    sa.Column('planned_on', sa.Date(), nullable=True),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('routed_by', sa.Integer(), nullable=True),
    sa.Column('routed_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_by', sa.Integer(), nullable=True),
    sa.Column('answered_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint(_in(REQUEST_STATUS), name=op.f('ck_open_request_status')),
    sa.ForeignKeyConstraint(['answered_by'], ['app_user.id'], name=op.f('fk_open_request_answered_by_app_user')),
    sa.ForeignKeyConstraint(['dataset_entry_id'], ['catalog_entry.id'],
                            name=op.f('fk_open_request_dataset_entry_id_catalog_entry'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['dept_org_id'], ['org.id'], name=op.f('fk_open_request_dept_org_id_org')),
    sa.ForeignKeyConstraint(['duplicate_of_id'], ['open_request.id'],
                            name=op.f('fk_open_request_duplicate_of_id_open_request'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_open_request_entry_id_catalog_entry'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_open_request_org_id_org')),
    sa.ForeignKeyConstraint(['routed_by'], ['app_user.id'], name=op.f('fk_open_request_routed_by_app_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_request')),
    sa.UniqueConstraint('token_sm3', name=op.f('uq_open_request_token_sm3'))
    )
    with op.batch_alter_table('open_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_request_dept_org_id'), ['dept_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_request_status'), ['status'], unique=False)
    op.create_table('open_error_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('version_number', sa.Integer(), nullable=True),
    sa.Column('item', sa.String(length=100), nullable=False),
    sa.Column('row_ref', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('suggestion', sa.Text(), nullable=False),
    sa.Column('channel', sa.String(length=12), nullable=False),
    sa.Column('contact_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('token_sm3', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('fixed_version', sa.Integer(), nullable=True),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('answered_by', sa.Integer(), nullable=True),
    sa.Column('answered_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint(_in(REPORT_STATUS), name=op.f('ck_open_error_report_status')),
    sa.ForeignKeyConstraint(['answered_by'], ['app_user.id'], name=op.f('fk_open_error_report_answered_by_app_user')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'],
                            name=op.f('fk_open_error_report_entry_id_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_open_error_report_org_id_org')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open_error_report')),
    sa.UniqueConstraint('token_sm3', name=op.f('uq_open_error_report_token_sm3'))
    )
    with op.batch_alter_table('open_error_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_error_report_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_error_report_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_open_error_report_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('open_error_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_error_report_status'))
        batch_op.drop_index(batch_op.f('ix_open_error_report_org_id'))
        batch_op.drop_index(batch_op.f('ix_open_error_report_entry_id'))
    op.drop_table('open_error_report')
    with op.batch_alter_table('open_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_request_status'))
        batch_op.drop_index(batch_op.f('ix_open_request_dept_org_id'))
    op.drop_table('open_request')
