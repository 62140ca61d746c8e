"""双公示 publication tracking (R-OPN-9) and the yearly open catalogue adjustment (R-OPN-1)

Revision ID: 20261205_0012
Revises: 20261205_0011
Create Date: 2026-12-05 09:30:00
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

from gongshu.db import UTCDateTime  # noqa: F401

revision = '20261205_0012'
down_revision = '20261205_0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
