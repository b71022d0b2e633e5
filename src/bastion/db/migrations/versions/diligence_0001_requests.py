"""diligence: trigger rule sets, deposits for the 30-day sum, requests, sealed answers and documents, audit

Revision ID: diligence_0001
Revises: base_0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "diligence_0001"
down_revision: str | Sequence[str] | None = "base_0001"
branch_labels: str | Sequence[str] | None = ("diligence",)
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
MONEY = sa.Numeric(38, 18).with_variant(sa.String(60), "sqlite")


def upgrade() -> None:
    op.create_table(
        "diligence_rule_sets",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_diligence_rule_sets")),
    )
    op.create_index(op.f("ix_diligence_rule_sets_active"), "diligence_rule_sets", ["active"], unique=False)
    op.create_table(
        "diligence_deposits",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("amount_usd", MONEY, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_diligence_deposits")),
    )
    op.create_index("ix_diligence_deposits_user_at", "diligence_deposits", ["user_id", "at"], unique=False)
    op.create_table(
        "diligence_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("open_key", sa.String(length=100), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("purged_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diligence_requests")),
        sa.UniqueConstraint("open_key", name=op.f("uq_diligence_requests_open_key")),
    )
    op.create_index(op.f("ix_diligence_requests_user_id"), "diligence_requests", ["user_id"], unique=False)
    op.create_index(op.f("ix_diligence_requests_opened_at"), "diligence_requests", ["opened_at"], unique=False)
    op.create_index("ix_diligence_requests_status_due", "diligence_requests", ["status", "due_at"], unique=False)
    op.create_table(
        "diligence_answers",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("answered_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["diligence_requests.id"],
            name=op.f("fk_diligence_answers_request_id_diligence_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_diligence_answers")),
    )
    op.create_table(
        "diligence_documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["diligence_requests.id"],
            name=op.f("fk_diligence_documents_request_id_diligence_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diligence_documents")),
    )
    op.create_index(op.f("ix_diligence_documents_request_id"), "diligence_documents", ["request_id"], unique=False)
    op.create_table(
        "diligence_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diligence_audit")),
    )
    op.create_index(op.f("ix_diligence_audit_request_id"), "diligence_audit", ["request_id"], unique=False)


def downgrade() -> None:
    for name in ("diligence_audit", "diligence_documents", "diligence_answers", "diligence_requests",
                 "diligence_deposits", "diligence_rule_sets"):  # fmt: skip
        op.drop_table(name)
