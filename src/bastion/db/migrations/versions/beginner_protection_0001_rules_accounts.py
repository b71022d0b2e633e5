"""beginner_protection: versioned rules, what Bastion knows of each trader's experience, refusals,
questionnaire attempts, margin events.

Revision ID: beginner_protection_0001
Revises: base_0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "beginner_protection_0001"
down_revision: str | Sequence[str] | None = "base_0001"
branch_labels: str | Sequence[str] | None = ("beginner_protection",)
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "beginner_rulesets",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_beginner_rulesets_active", "beginner_rulesets", ["active"])
    op.create_table(
        "beginner_accounts",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("opened_at", _ts(), nullable=False),
        sa.Column("prior_derivatives", sa.Boolean(), nullable=False),
        sa.Column("first_attempt_at", _ts(), nullable=True),
        sa.Column("first_trade_at", _ts(), nullable=True),
        sa.Column("protected_at_first_trade", sa.Boolean(), nullable=True),
        sa.Column("version_at_first_trade", sa.Integer(), nullable=True),
        sa.Column("questionnaire_passed_at", _ts(), nullable=True),
    )
    op.create_index("ix_beginner_accounts_first_trade_at", "beginner_accounts", ["first_trade_at"])
    op.create_table(
        "beginner_refusals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
    )
    op.create_index("ix_beginner_refusals_at", "beginner_refusals", ["at"])
    op.create_index("ix_beginner_refusals_user_id", "beginner_refusals", ["user_id"])
    op.create_table(
        "beginner_questionnaire_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_beginner_questionnaire_user_at", "beginner_questionnaire_attempts", ["user_id", "at"])
    op.create_table(
        "beginner_margin_events",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ts", _ts(), nullable=False),
        sa.Column("liquidation_id", sa.String(128), nullable=True),
        sa.Column("recorded_at", _ts(), nullable=False),
    )
    op.create_index("ix_beginner_margin_events_user_ts", "beginner_margin_events", ["user_id", "ts"])


def downgrade() -> None:
    for table in (
        "beginner_margin_events",
        "beginner_questionnaire_attempts",
        "beginner_refusals",
        "beginner_accounts",
        "beginner_rulesets",
    ):
        op.drop_table(table)
