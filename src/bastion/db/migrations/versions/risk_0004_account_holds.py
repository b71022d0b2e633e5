"""risk: account holds other parts place on a user's withdrawals (due diligence)

Revision ID: risk_0004
Revises: risk_0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "risk_0004"
down_revision: str | Sequence[str] | None = "risk_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_account_holds",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("over_usd", sa.Numeric(precision=28, scale=8), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "reason", name=op.f("pk_risk_account_holds")),
    )


def downgrade() -> None:
    op.drop_table("risk_account_holds")
