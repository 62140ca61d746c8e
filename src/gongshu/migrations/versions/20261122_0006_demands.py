"""the demand list (需求清单, R-CAT-9, R-DEM-1)

Revision ID: 20261122_0006
Revises: 20261122_0005
Create Date: 2026-11-22 09:02:47.369231
"""

import sqlalchemy as sa
from alembic import op

from gongshu.db import UTCDateTime

revision = '20261122_0006'
down_revision = '20261122_0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalog_demand',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('basis', sa.Text(), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('system_id', sa.Integer(), nullable=True),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('provider_org_id', sa.Integer(), nullable=True),
    sa.Column('sharing_mode', sa.String(length=10), nullable=False),
    sa.Column('needed_by', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('answer_due', sa.Date(), nullable=True),
    sa.Column('plan_due', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('routed_by', sa.Integer(), nullable=True),
    sa.Column('answered_by', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('routed_at', UTCDateTime(), nullable=True),
    sa.Column('answered_at', UTCDateTime(), nullable=True),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['answered_by'], ['app_user.id'], name=op.f('fk_catalog_demand_answered_by_app_user')),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], name=op.f('fk_catalog_demand_created_by_app_user')),
    sa.ForeignKeyConstraint(['entry_id'], ['catalog_entry.id'], name=op.f('fk_catalog_demand_entry_id_catalog_entry'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], name=op.f('fk_catalog_demand_org_id_org')),
    sa.ForeignKeyConstraint(['project_id'], ['egov_project.id'], name=op.f('fk_catalog_demand_project_id_egov_project'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['provider_org_id'], ['org.id'], name=op.f('fk_catalog_demand_provider_org_id_org')),
    sa.ForeignKeyConstraint(['routed_by'], ['app_user.id'], name=op.f('fk_catalog_demand_routed_by_app_user')),
    sa.ForeignKeyConstraint(['system_id'], ['info_system.id'], name=op.f('fk_catalog_demand_system_id_info_system'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_demand'))
    )
    with op.batch_alter_table('catalog_demand', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_demand_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_demand_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_demand_provider_org_id'), ['provider_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_demand_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('catalog_demand', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_demand_status'))
        batch_op.drop_index(batch_op.f('ix_catalog_demand_provider_org_id'))
        batch_op.drop_index(batch_op.f('ix_catalog_demand_org_id'))
        batch_op.drop_index(batch_op.f('ix_catalog_demand_entry_id'))

    op.drop_table('catalog_demand')
