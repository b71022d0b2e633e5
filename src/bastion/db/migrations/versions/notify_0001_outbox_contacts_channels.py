"""notify: the alert outbox, users' sealed contact addresses, the official-channel registry.

Revision ID: notify_0001
Revises: base_0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "notify_0001"
down_revision: str | Sequence[str] | None = "base_0001"
branch_labels: str | Sequence[str] | None = ("notify",)
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _ts(), nullable=False),
        sa.Column("claimed_by", sa.String(36), nullable=True),
        sa.Column("delivered_at", _ts(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.UniqueConstraint("dedupe_key", "channel", name="uq_notify_outbox_dedupe_key_channel"),
    )
    op.create_index("ix_notify_outbox_user_id", "notify_outbox", ["user_id"])
    op.create_index("ix_notify_outbox_due", "notify_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "notify_contacts",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("email_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
    )
    op.create_table(
        "notify_official_channels",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(254), nullable=False),
        sa.Column("note", sa.String(100), nullable=False),
        sa.Column("added_at", _ts(), nullable=False),
        sa.Column("added_by", sa.String(120), nullable=False),
        sa.UniqueConstraint("kind", "value", name="uq_notify_official_channels_kind_value"),
    )


def downgrade() -> None:
    op.drop_table("notify_official_channels")
    op.drop_table("notify_contacts")
    op.drop_table("notify_outbox")
