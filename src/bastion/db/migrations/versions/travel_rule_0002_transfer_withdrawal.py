"""travel_rule: an approved transfer covers one withdrawal (the first withdrawal event it let through)

Revision ID: travel_rule_0002
Revises: travel_rule_0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "travel_rule_0002"
down_revision: str | Sequence[str] | None = "travel_rule_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("travel_rule_transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawal_event", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("travel_rule_transfers", schema=None) as batch_op:
        batch_op.drop_column("withdrawal_event")
