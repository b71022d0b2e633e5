"""risk: the live log that service workers tail to keep decision state in memory

Revision ID: risk_0003
Revises: risk_0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "risk_0003"
down_revision: str | Sequence[str] | None = "risk_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_live_log",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_risk_live_log")),
    )
    with op.batch_alter_table("risk_live_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_risk_live_log_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("risk_live_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_live_log_created_at"))
    op.drop_table("risk_live_log")
