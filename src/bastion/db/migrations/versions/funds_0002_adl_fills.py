"""funds: audit of auto-deleveraging (which positions were reduced, by how much, for which liquidation).

Revision ID: funds_0002
Revises: funds_0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "funds_0002"
down_revision: str | Sequence[str] | None = "funds_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _dec() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    # Exact on both: NUMERIC on PostgreSQL, text on SQLite (see bastion.db.types.ExactDecimal).
    return sa.Numeric(38, 18).with_variant(sa.String(60), "sqlite")


def upgrade() -> None:
    op.create_table(
        "fund_adl_fills",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("fund_entries.id"), nullable=False),
        sa.Column("pool_id", sa.Integer(), sa.ForeignKey("fund_pools.id"), nullable=False),
        sa.Column("liquidation_id", sa.String(128), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("position_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("pos_side", sa.String(8), nullable=False),
        sa.Column("size_before", _dec(), nullable=False),
        sa.Column("size_closed", _dec(), nullable=False),
        sa.Column("price", _dec(), nullable=False),
        sa.UniqueConstraint(
            "liquidation_id", "position_id", name="uq_fund_adl_fills_liquidation_id_position_id"
        ),
    )
    op.create_index("ix_fund_adl_fills_entry_id", "fund_adl_fills", ["entry_id"])
    op.create_index("ix_fund_adl_fills_pool_ts", "fund_adl_fills", ["pool_id", "ts"])


def downgrade() -> None:
    op.drop_table("fund_adl_fills")
