"""open data requests (R-OPN-4) and error reports (R-OPN-5)

Revision ID: 20261205_0011
Revises: 20261205_0010
Create Date: 2026-12-05 09:30:00
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

from gongshu.db import UTCDateTime  # noqa: F401

revision = '20261205_0011'
down_revision = '20261205_0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
