"""access: named service/operator credentials (hashed) and the batched audit of their use.

Revision ID: access_0001
Revises: base_0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "access_0001"
down_revision: str | Sequence[str] | None = "base_0001"
branch_labels: str | Sequence[str] | None = ("access",)
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "access_credentials",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("bootstrap", sa.Boolean(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("last_used_at", _ts(), nullable=True),
        sa.Column("uses", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.UniqueConstraint("name", name="uq_access_credentials_name"),
        sa.UniqueConstraint("token_sha256", name="uq_access_credentials_token_sha256"),
    )
    op.create_index("ix_access_credentials_revoked_at", "access_credentials", ["revoked_at"])
    op.create_table(
        "access_uses",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("credential", sa.String(64), nullable=False),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_at", _ts(), nullable=False),
        sa.Column("last_at", _ts(), nullable=False),
    )
    op.create_index("ix_access_uses_credential", "access_uses", ["credential"])
    op.create_index("ix_access_uses_last_at", "access_uses", ["last_at"])


def downgrade() -> None:
    op.drop_table("access_uses")
    op.drop_table("access_credentials")
