"""protection_fund: the user protection fund's ledger, incidents and claims, audit, wallet rounds; the
disclosures of every fund.

Revision ID: protection_fund_0001
Revises: base_0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "protection_fund_0001"
down_revision: str | Sequence[str] | None = "base_0001"
branch_labels: str | Sequence[str] | None = ("protection_fund",)
depends_on: str | Sequence[str] | None = None


def _dec() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.Numeric(38, 18).with_variant(sa.String(60), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pfund_balances",
        sa.Column("ccy", sa.String(16), primary_key=True),
        sa.Column("balance", _dec(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
    )
    op.create_table(
        "pfund_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ref", sa.String(160), nullable=False),
        sa.Column("ccy", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", _dec(), nullable=False),
        sa.Column("balance", _dec(), nullable=False),
        sa.Column("counterparty", sa.String(160), nullable=False),
        sa.Column("ts", _ts(), nullable=False),
        sa.Column("booked_at", _ts(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.UniqueConstraint("ref", name="uq_pfund_entries_ref"),
        sa.UniqueConstraint("ccy", "seq", name="uq_pfund_entries_ccy_seq"),
    )
    op.create_index("ix_pfund_entries_kind_ts", "pfund_entries", ["kind", "ts"])
    op.create_table(
        "pfund_postings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("pfund_entries.id"), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("ccy", sa.String(16), nullable=False),
        sa.Column("amount", _dec(), nullable=False),
    )
    op.create_index("ix_pfund_postings_entry_id", "pfund_postings", ["entry_id"])
    op.create_index("ix_pfund_postings_account", "pfund_postings", ["account"])
    op.create_table(
        "pfund_incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ref", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("occurred_at", _ts(), nullable=False),
        sa.Column("opened_at", _ts(), nullable=False),
        sa.Column("opened_by", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("closed_at", _ts(), nullable=True),
        sa.UniqueConstraint("ref", name="uq_pfund_incidents_ref"),
    )
    op.create_table(
        "pfund_claims",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("pfund_incidents.id"), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("ccy", sa.String(16), nullable=False),
        sa.Column("amount", _dec(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("pfund_entries.id"), nullable=True),
        sa.Column("paid_at", _ts(), nullable=True),
        sa.UniqueConstraint("incident_id", "user_id", "ccy", name="uq_pfund_claims_incident_id_user_id_ccy"),
        sa.UniqueConstraint("entry_id", name="uq_pfund_claims_entry_id"),
    )
    op.create_index("ix_pfund_claims_incident_id", "pfund_claims", ["incident_id"])
    op.create_index("ix_pfund_claims_user_id", "pfund_claims", ["user_id"])
    op.create_table(
        "pfund_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("pfund_incidents.id"), nullable=False),
        sa.Column("claim_id", sa.Integer(), sa.ForeignKey("pfund_claims.id"), nullable=True),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_pfund_audit_incident_at", "pfund_audit", ["incident_id", "at"])
    op.create_index("ix_pfund_audit_claim_id", "pfund_audit", ["claim_id"])
    op.create_table(
        "pfund_wallet_rounds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("round_id", sa.String(64), nullable=False),
        sa.Column("exchange", sa.String(128), nullable=False),
        sa.Column("snapshot_time", _ts(), nullable=False),
        sa.Column("challenge", sa.Text(), nullable=False),
        sa.Column("wallet_set_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("prices", sa.JSON(), nullable=False),
        sa.Column("wallets", sa.JSON(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("wallet_balances", sa.JSON(), nullable=False),
        sa.Column("ledger_balances", sa.JSON(), nullable=False),
        sa.Column("wallets_usd", _dec(), nullable=False),
        sa.Column("ledger_usd", _dec(), nullable=False),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.UniqueConstraint("round_id", name="uq_pfund_wallet_rounds_round_id"),
    )
    op.create_index("ix_pfund_wallet_rounds_snapshot_time", "pfund_wallet_rounds", ["snapshot_time"])
    op.create_table(
        "fund_disclosures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("fund", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("structure", sa.Text(), nullable=False),
        sa.Column("triggers", sa.Text(), nullable=False),
        sa.Column("disclaimers", sa.JSON(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.UniqueConstraint("fund", "version", name="uq_fund_disclosures_fund_version"),
    )


def downgrade() -> None:
    for table in (
        "fund_disclosures", "pfund_wallet_rounds", "pfund_audit", "pfund_claims", "pfund_incidents",
        "pfund_postings", "pfund_entries", "pfund_balances",
    ):  # fmt: skip
        op.drop_table(table)
