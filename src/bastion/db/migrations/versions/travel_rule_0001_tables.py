"""travel_rule: the VASP directory, rule sets, prices, messages, transfers, held deposits, wallets, audit.

Revision ID: travel_rule_0001
Revises: base_0001

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "travel_rule_0001"
down_revision: str | Sequence[str] | None = "base_0001"
branch_labels: str | Sequence[str] | None = ("travel_rule",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "travel_rule_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=96), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_rule_audit")),
    )
    with op.batch_alter_table("travel_rule_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_travel_rule_audit_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_travel_rule_audit_subject"), ["subject"], unique=False)

    op.create_table(
        "travel_rule_deposits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deposit_ref", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Numeric(38, 18).with_variant(sa.String(60), "sqlite"), nullable=False),
        sa.Column("txid", sa.String(length=128), nullable=False),
        sa.Column("to_address", sa.String(length=128), nullable=False),
        sa.Column("from_address", sa.String(length=128), nullable=True),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("source_lei", sa.String(length=20), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("value", sa.Numeric(38, 18).with_variant(sa.String(60), "sqlite"), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=16), nullable=True),
        sa.Column("transfer_id", sa.String(length=64), nullable=True),
        sa.Column("originator_sealed", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_rule_deposits")),
        sa.UniqueConstraint("deposit_ref", name=op.f("uq_travel_rule_deposits_deposit_ref")),
    )
    with op.batch_alter_table("travel_rule_deposits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_travel_rule_deposits_deadline"), ["deadline"], unique=False)
        batch_op.create_index(batch_op.f("ix_travel_rule_deposits_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_travel_rule_deposits_txid"), ["txid"], unique=False)
        batch_op.create_index(batch_op.f("ix_travel_rule_deposits_user_id"), ["user_id"], unique=False)

    op.create_table(
        "travel_rule_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sender_lei", sa.String(length=20), nullable=False),
        sa.Column("receiver_lei", sa.String(length=20), nullable=False),
        sa.Column("transfer_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("jws_sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_rule_messages")),
        sa.UniqueConstraint("sender_lei", "message_id", name=op.f("uq_travel_rule_messages_sender_lei_message_id")),
    )
    with op.batch_alter_table("travel_rule_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_travel_rule_messages_recorded_at"), ["recorded_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_travel_rule_messages_transfer_id"), ["transfer_id"], unique=False)

    op.create_table(
        "travel_rule_prices",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("price", sa.Numeric(38, 18).with_variant(sa.String(60), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("day", "asset", "currency", name=op.f("pk_travel_rule_prices")),
    )
    op.create_table(
        "travel_rule_rulesets",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_travel_rule_rulesets")),
    )
    with op.batch_alter_table("travel_rule_rulesets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_travel_rule_rulesets_active"), ["active"], unique=False)

    op.create_table(
        "travel_rule_transfers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transfer_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("counterparty_lei", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("asset", sa.String(length=16), nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Numeric(38, 18).with_variant(sa.String(60), "sqlite"), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("callback", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("txid", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ivms_sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_rule_transfers")),
        sa.UniqueConstraint(
            "transfer_id",
            "role",
            "counterparty_lei",
            name=op.f("uq_travel_rule_transfers_transfer_id_role_counterparty_lei"),
        ),
    )
    with op.batch_alter_table("travel_rule_transfers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_travel_rule_transfers_address"), ["address"], unique=False)
        batch_op.create_index(batch_op.f("ix_travel_rule_transfers_transfer_id"), ["transfer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_travel_rule_transfers_txid"), ["txid"], unique=False)
        batch_op.create_index(batch_op.f("ix_travel_rule_transfers_user_id"), ["user_id"], unique=False)

    op.create_table(
        "travel_rule_vasps",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lei", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=140), nullable=False),
        sa.Column("jurisdiction", sa.String(length=8), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_rule_vasps")),
        sa.UniqueConstraint("lei", name=op.f("uq_travel_rule_vasps_lei")),
    )
    op.create_table(
        "travel_rule_wallets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("challenge", sa.String(length=400), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("proven_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheme", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_rule_wallets")),
        sa.UniqueConstraint("user_id", "chain", "address", name=op.f("uq_travel_rule_wallets_user_id_chain_address")),
    )
    op.create_table(
        "travel_rule_vasp_addresses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("vasp_id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["vasp_id"],
            ["travel_rule_vasps.id"],
            name=op.f("fk_travel_rule_vasp_addresses_vasp_id_travel_rule_vasps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_rule_vasp_addresses")),
        sa.UniqueConstraint("chain", "address", name=op.f("uq_travel_rule_vasp_addresses_chain_address")),
    )
    with op.batch_alter_table("travel_rule_vasp_addresses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_travel_rule_vasp_addresses_vasp_id"), ["vasp_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("travel_rule_vasp_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_travel_rule_vasp_addresses_vasp_id"))

    op.drop_table("travel_rule_vasp_addresses")
    op.drop_table("travel_rule_wallets")
    op.drop_table("travel_rule_vasps")
    with op.batch_alter_table("travel_rule_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_travel_rule_transfers_user_id"))
        batch_op.drop_index(batch_op.f("ix_travel_rule_transfers_txid"))
        batch_op.drop_index(batch_op.f("ix_travel_rule_transfers_transfer_id"))
        batch_op.drop_index(batch_op.f("ix_travel_rule_transfers_address"))

    op.drop_table("travel_rule_transfers")
    with op.batch_alter_table("travel_rule_rulesets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_travel_rule_rulesets_active"))

    op.drop_table("travel_rule_rulesets")
    op.drop_table("travel_rule_prices")
    with op.batch_alter_table("travel_rule_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_travel_rule_messages_transfer_id"))
        batch_op.drop_index(batch_op.f("ix_travel_rule_messages_recorded_at"))

    op.drop_table("travel_rule_messages")
    with op.batch_alter_table("travel_rule_deposits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_travel_rule_deposits_user_id"))
        batch_op.drop_index(batch_op.f("ix_travel_rule_deposits_txid"))
        batch_op.drop_index(batch_op.f("ix_travel_rule_deposits_status"))
        batch_op.drop_index(batch_op.f("ix_travel_rule_deposits_deadline"))

    op.drop_table("travel_rule_deposits")
    with op.batch_alter_table("travel_rule_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_travel_rule_audit_subject"))
        batch_op.drop_index(batch_op.f("ix_travel_rule_audit_at"))

    op.drop_table("travel_rule_audit")
