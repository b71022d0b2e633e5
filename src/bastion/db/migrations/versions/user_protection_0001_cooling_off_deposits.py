"""user_protection: cooling-off activations and refusals, mistaken-deposit observations, cases, audit trail.

Revision ID: user_protection_0001
Revises: base_0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "user_protection_0001"
down_revision: str | Sequence[str] | None = "base_0001"
branch_labels: str | Sequence[str] | None = ("user_protection",)
depends_on: str | Sequence[str] | None = None


def _dec() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.Numeric(38, 18).with_variant(sa.String(60), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "protection_cooling_off_activations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("ends_at", _ts(), nullable=False),
        sa.UniqueConstraint("request_id", name="uq_protection_cooling_off_activations_request_id"),
    )
    op.create_index(
        "ix_protection_cooling_off_user_end", "protection_cooling_off_activations", ["user_id", "ends_at"]
    )
    op.create_table(
        "protection_cooling_off_refusals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("inst_type", sa.String(16), nullable=False),
        sa.Column("inst_id", sa.String(64), nullable=False),
        sa.Column("effect", sa.String(16), nullable=False),
    )
    op.create_index("ix_protection_cooling_off_refusals_user_id", "protection_cooling_off_refusals", ["user_id"])
    op.create_index("ix_protection_cooling_off_refusals_at", "protection_cooling_off_refusals", ["at"])
    op.create_table(
        "protection_deposit_observations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("txid", sa.String(128), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("to_address", sa.String(128), nullable=False),
        sa.Column("memo", sa.String(128), nullable=True),
        sa.Column("memo_matches_account", sa.Boolean(), nullable=False),
        sa.Column("amount", _dec(), nullable=False),
        sa.Column("usd_value", _dec(), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("observed_at", _ts(), nullable=False),
        sa.UniqueConstraint("chain", "txid", name="uq_protection_deposit_observations_chain_txid"),
    )
    op.create_table(
        "protection_deposit_cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("txid", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("amount", _dec(), nullable=False),
        sa.Column("usd_value", _dec(), nullable=False),
        sa.Column("fee", _dec(), nullable=False),
        sa.Column("opened_at", _ts(), nullable=False),
        sa.Column("resolved_at", _ts(), nullable=True),
        sa.Column("closed_at", _ts(), nullable=True),
        sa.UniqueConstraint("chain", "txid", name="uq_protection_deposit_cases_chain_txid"),
    )
    op.create_index("ix_protection_deposit_cases_user_id", "protection_deposit_cases", ["user_id"])
    op.create_index("ix_protection_deposit_cases_opened_at", "protection_deposit_cases", ["opened_at"])
    op.create_table(
        "protection_deposit_case_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("protection_deposit_cases.id"), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
    )
    op.create_index(
        "ix_protection_deposit_case_events_case_id", "protection_deposit_case_events", ["case_id"]
    )


def downgrade() -> None:
    for table in (
        "protection_deposit_case_events",
        "protection_deposit_cases",
        "protection_deposit_observations",
        "protection_cooling_off_refusals",
        "protection_cooling_off_activations",
    ):
        op.drop_table(table)
