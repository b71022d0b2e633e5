"""stepup: passkey challenges bound to a withdrawal, the audit of step-up attempts.

Revision ID: stepup_0001
Revises: base_0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "stepup_0001"
down_revision: str | Sequence[str] | None = "base_0001"
branch_labels: str | Sequence[str] | None = ("stepup",)
depends_on: str | Sequence[str] | None = "risk_0001"  # rows refer to risk_decisions


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stepup_challenges",
        sa.Column("challenge_hash", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["risk_decisions.id"],
            name=op.f("fk_stepup_challenges_decision_id_risk_decisions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("challenge_hash", name=op.f("pk_stepup_challenges")),
    )
    op.create_index(op.f("ix_stepup_challenges_decision_id"), "stepup_challenges", ["decision_id"])
    op.create_table(
        "stepup_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(128), nullable=True),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["risk_decisions.id"],
            name=op.f("fk_stepup_attempts_decision_id_risk_decisions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stepup_attempts")),
    )
    op.create_index(op.f("ix_stepup_attempts_decision_id"), "stepup_attempts", ["decision_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_stepup_attempts_decision_id"), table_name="stepup_attempts")
    op.drop_table("stepup_attempts")
    op.drop_index(op.f("ix_stepup_challenges_decision_id"), table_name="stepup_challenges")
    op.drop_table("stepup_challenges")
