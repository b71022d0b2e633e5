"""account: devices and sessions, frozen accounts, unfreeze cases, the audit trail

Revision ID: account_0001
Revises: base_0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "account_0001"
down_revision: str | Sequence[str] | None = "base_0001"
branch_labels: str | Sequence[str] | None = ("account",)
depends_on: str | Sequence[str] | None = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "account_devices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("asn", sa.Integer(), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("first_seen_at", Ts, nullable=False),
        sa.Column("last_seen_at", Ts, nullable=False),
        sa.Column("removed_at", Ts, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_devices")),
        sa.UniqueConstraint("user_id", "fingerprint", name=op.f("uq_account_devices_user_id_fingerprint")),
    )
    op.create_index("ix_account_devices_user", "account_devices", ["user_id"])
    op.create_table(
        "account_sessions",
        sa.Column("sid", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("started_at", Ts, nullable=False),
        sa.Column("ended_at", Ts, nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["account_devices.id"], name=op.f("fk_account_sessions_device_id_account_devices")
        ),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_account_sessions")),
    )
    op.create_index("ix_account_sessions_user", "account_sessions", ["user_id"])
    op.create_index("ix_account_sessions_device", "account_sessions", ["device_id"])
    op.create_table(
        "account_state",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("frozen_at", Ts, nullable=True),
        sa.Column("frozen_by", sa.String(length=128), nullable=True),
        sa.Column("frozen_reason", sa.String(length=256), nullable=True),
        sa.Column("sessions_not_before", Ts, nullable=True),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_account_state")),
    )
    op.create_table(
        "account_unfreeze_cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("opened_at", Ts, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verified_by", sa.String(length=128), nullable=True),
        sa.Column("verification_method", sa.String(length=32), nullable=True),
        sa.Column("evidence_ref", sa.String(length=128), nullable=True),
        sa.Column("closed_at", Ts, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_unfreeze_cases")),
    )
    op.create_index("ix_account_unfreeze_cases_user", "account_unfreeze_cases", ["user_id"])
    op.create_table(
        "account_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("at", Ts, nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_audit")),
    )
    op.create_index("ix_account_audit_user_at", "account_audit", ["user_id", "at"])


def downgrade() -> None:
    op.drop_table("account_audit")
    op.drop_table("account_unfreeze_cases")
    op.drop_table("account_state")
    op.drop_table("account_sessions")
    op.drop_table("account_devices")
