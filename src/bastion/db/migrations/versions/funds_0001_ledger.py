"""funds: pools, append-only entries with double-entry postings, liquidations, pool events, ADL positions.

Revision ID: funds_0001
Revises: base_0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "funds_0001"
down_revision: str | Sequence[str] | None = "base_0001"
branch_labels: str | Sequence[str] | None = ("funds",)
depends_on: str | Sequence[str] | None = None


def _dec() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    # Exact on both: NUMERIC on PostgreSQL, text on SQLite (see bastion.db.types.ExactDecimal).
    return sa.Numeric(38, 18).with_variant(sa.String(60), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fund_pools",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("inst_type", sa.String(16), nullable=False),
        sa.Column("inst_family", sa.String(64), nullable=False),
        sa.Column("ccy", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("last_adl_trigger_at", _ts(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("inst_type", "inst_family", "ccy", name="uq_fund_pools_inst_type_inst_family_ccy"),
    )
    op.create_table(
        "fund_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pool_id", sa.Integer(), sa.ForeignKey("fund_pools.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("amount", _dec(), nullable=False),
        sa.Column("balance", _dec(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ts", _ts(), nullable=False),
        sa.Column("booked_at", _ts(), nullable=False),
        sa.Column("ref", sa.String(128), nullable=True),
        sa.Column("liquidation_id", sa.String(128), nullable=True),
        sa.UniqueConstraint("pool_id", "seq", name="uq_fund_entries_pool_id_seq"),
        sa.UniqueConstraint("ref", name="uq_fund_entries_ref"),
    )
    op.create_index("ix_fund_entries_pool_ts", "fund_entries", ["pool_id", "ts"])
    op.create_index("ix_fund_entries_type_ts", "fund_entries", ["type", "ts"])
    op.create_table(
        "fund_postings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("fund_entries.id"), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("ccy", sa.String(16), nullable=False),
        sa.Column("amount", _dec(), nullable=False),
    )
    op.create_index("ix_fund_postings_entry_id", "fund_postings", ["entry_id"])
    op.create_index("ix_fund_postings_account", "fund_postings", ["account"])
    op.create_table(
        "fund_liquidations",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("pool_id", sa.Integer(), sa.ForeignKey("fund_pools.id"), nullable=False),
        sa.Column("inst_id", sa.String(64), nullable=False),
        sa.Column("pos_side", sa.String(8), nullable=False),
        sa.Column("sz", _dec(), nullable=False),
        sa.Column("bk_px", _dec(), nullable=False),
        sa.Column("fill_px", _dec(), nullable=False),
        sa.Column("ct_type", sa.String(8), nullable=False),
        sa.Column("ct_val", _dec(), nullable=False),
        sa.Column("ts", _ts(), nullable=False),
        sa.Column("outcome", _dec(), nullable=False),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("fund_entries.id"), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
    )
    op.create_index("ix_fund_liquidations_pool_id", "fund_liquidations", ["pool_id"])
    op.create_table(
        "fund_pool_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pool_id", sa.Integer(), sa.ForeignKey("fund_pools.id"), nullable=False),
        sa.Column("ts", _ts(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state_before", sa.String(16), nullable=False),
        sa.Column("state_after", sa.String(16), nullable=False),
        sa.Column("balance", _dec(), nullable=False),
        sa.Column("max_bal", _dec(), nullable=False),
        sa.Column("dec_rate", _dec(), nullable=False),
        sa.Column("liquidation_id", sa.String(128), nullable=True),
        sa.Column("queue", sa.JSON(), nullable=True),
    )
    op.create_index("ix_fund_pool_events_pool_ts", "fund_pool_events", ["pool_id", "ts"])
    op.create_table(
        "fund_adl_positions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pool_id", sa.Integer(), sa.ForeignKey("fund_pools.id"), nullable=False),
        sa.Column("position_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("pos_side", sa.String(8), nullable=False),
        sa.Column("sz", _dec(), nullable=False),
        sa.Column("avg_px", _dec(), nullable=False),
        sa.Column("mark_px", _dec(), nullable=False),
        sa.Column("margin", _dec(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.UniqueConstraint("pool_id", "position_id", name="uq_fund_adl_positions_pool_id_position_id"),
    )
    op.create_index("ix_fund_adl_positions_pool_id", "fund_adl_positions", ["pool_id"])


def downgrade() -> None:
    for table in ("fund_adl_positions", "fund_pool_events", "fund_liquidations", "fund_postings", "fund_entries",
                  "fund_pools"):
        op.drop_table(table)
