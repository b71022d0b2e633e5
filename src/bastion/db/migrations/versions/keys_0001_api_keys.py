"""keys: API keys, third-party apps, Fast API codes, the key audit trail and refused requests.

Revision ID: keys_0001
Revises: base_0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "keys_0001"
down_revision: str | Sequence[str] | None = "base_0001"
branch_labels: str | Sequence[str] | None = ("keys",)
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "keys_third_party_apps",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("redirect_uri", sa.String(500), nullable=False),
        sa.Column("client_secret_sha256", sa.String(64), nullable=False),
        sa.Column("ips", sa.Text(), nullable=False),
        sa.Column("max_permission", sa.String(16), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("disabled_at", _ts(), nullable=True),
    )
    op.create_table(
        "keys_api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(50), nullable=False),
        sa.Column("permissions", sa.String(32), nullable=False),
        sa.Column("ips", sa.Text(), nullable=False),
        sa.Column("ip_count", sa.Integer(), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=True),
        sa.Column("passphrase_hash", sa.Text(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("app_id", sa.String(36), sa.ForeignKey("keys_third_party_apps.id"), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("last_used_at", _ts(), nullable=True),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.Column("revoke_reason", sa.String(16), nullable=True),
    )
    op.create_index("ix_keys_api_keys_user_id", "keys_api_keys", ["user_id"])
    op.create_index("ix_keys_api_keys_revoked_at", "keys_api_keys", ["revoked_at"])
    live_binding = sa.text("revoked_at IS NULL AND app_id IS NOT NULL")
    op.create_index(
        "uq_keys_api_keys_live_app_binding",
        "keys_api_keys",
        ["user_id", "app_id"],
        unique=True,
        sqlite_where=live_binding,
        postgresql_where=live_binding,
    )
    op.create_table(
        "keys_fast_api_codes",
        sa.Column("code_sha256", sa.String(64), primary_key=True),
        sa.Column("app_id", sa.String(36), sa.ForeignKey("keys_third_party_apps.id"), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("permissions", sa.String(32), nullable=False),
        sa.Column("redirect_uri", sa.String(500), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("used_at", _ts(), nullable=True),
        sa.Column("key_id", sa.String(36), nullable=True),
    )
    op.create_index("ix_keys_fast_api_codes_app_id", "keys_fast_api_codes", ["app_id"])
    op.create_table(
        "keys_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_keys_events_key_id", "keys_events", ["key_id"])
    op.create_index("ix_keys_events_at", "keys_events", ["at"])
    op.create_table(
        "keys_rejections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
    )
    op.create_index("ix_keys_rejections_at", "keys_rejections", ["at"])


def downgrade() -> None:
    op.drop_table("keys_rejections")
    op.drop_table("keys_events")
    op.drop_table("keys_fast_api_codes")
    op.drop_table("keys_api_keys")
    op.drop_table("keys_third_party_apps")
