"""public accounts of the open data portal (R-OPN-3): natural and legal persons, real-name verification, API keys; applications for conditional data (R-OPN-2)

Revision ID: 20261205_0010
Revises: 20261205_0009
Create Date: 2026-12-05 09:30:00
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

from gongshu.db import UTCDateTime  # noqa: F401

revision = '20261205_0010'
down_revision = '20261205_0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
