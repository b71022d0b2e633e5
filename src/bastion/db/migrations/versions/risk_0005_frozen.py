"""risk: frozen accounts (every withdrawal decision blocks while set)

Revision ID: risk_0005
Revises: risk_0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "risk_0005"
down_revision: str | Sequence[str] | None = "risk_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("risk_user_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("risk_user_state", schema=None) as batch_op:
        batch_op.drop_column("frozen_at")
