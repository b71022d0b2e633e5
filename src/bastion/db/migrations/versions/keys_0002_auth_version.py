"""keys: the version of what the authenticator's per-process cache holds (one row, moved by every change).

Revision ID: keys_0002
Revises: keys_0001
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "keys_0002"
down_revision: str | Sequence[str] | None = "keys_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "keys_auth_version",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    # A random start: a process that cached under some version can never see it again after a re-creation.
    op.bulk_insert(table, [{"id": 1, "version": secrets.randbits(62)}])


def downgrade() -> None:
    op.drop_table("keys_auth_version")
