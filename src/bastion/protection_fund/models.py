"""Tables of the user protection fund. Ledger rows are only ever inserted."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.base import Base
from bastion.db.types import ExactDecimal, UtcDateTime


class PfundBalance(Base):
    """The fund's holding in one currency: the row every booking in that currency locks (FOR UPDATE), with
    the running balance and the last entry's sequence number."""

    __tablename__ = "pfund_balances"

    ccy: Mapped[str] = mapped_column(String(16), primary_key=True)
    balance: Mapped[Decimal] = mapped_column(ExactDecimal)
    seq: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PfundEntry(Base):
    """One booking: what changed in the fund's holding of `ccy`, and the balance after."""

    __tablename__ = "pfund_entries"
    __table_args__ = (UniqueConstraint("ccy", "seq"), Index("ix_pfund_entries_kind_ts", "kind", "ts"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(160), unique=True)  # idempotency key
    ccy: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # contribution | transfer_in | transfer_out | payout
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)  # change to the fund, signed
    balance: Mapped[Decimal] = mapped_column(ExactDecimal)
    counterparty: Mapped[str] = mapped_column(String(160))  # the other account of the double entry
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    booked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    memo: Mapped[str] = mapped_column(Text, default="")
    fingerprint: Mapped[str] = mapped_column(String(64))


class PfundPosting(Base):
    """Double entry: the two postings of an entry sum to zero. Accounts: `fund:<ccy>`, `source:<name>`
    (contributions), `external:<name>` (transfers), `user:<uid>` (payouts)."""

    __tablename__ = "pfund_postings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("pfund_entries.id"), index=True)
    account: Mapped[str] = mapped_column(String(200), index=True)
    ccy: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)


class PfundIncident(Base):
    __tablename__ = "pfund_incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(128), unique=True)  # the operator's idempotency key
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    opened_by: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))  # open | closed
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class PfundClaim(Base):
    """One affected user's loss in one currency under an incident, and its payout once booked."""

    __tablename__ = "pfund_claims"
    __table_args__ = (UniqueConstraint("incident_id", "user_id", "ccy"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("pfund_incidents.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    ccy: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    state: Mapped[str] = mapped_column(String(16))  # recorded | paid
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(128))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("pfund_entries.id"), nullable=True, unique=True)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class PfundAudit(Base):
    """Every step of an incident, who did it and when; a claim's own steps carry its id (users see those)."""

    __tablename__ = "pfund_audit"
    __table_args__ = (Index("ix_pfund_audit_incident_at", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("pfund_incidents.id"))
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("pfund_claims.id"), nullable=True, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class PfundWalletRound(Base):
    """The fund's wallets as verified for one proof-of-reserves round, with the ledger beside them."""

    __tablename__ = "pfund_wallet_rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[str] = mapped_column(String(64), unique=True)
    exchange: Mapped[str] = mapped_column(String(128))
    snapshot_time: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    challenge: Mapped[str] = mapped_column(Text)
    wallet_set_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # verified | failed
    prices: Mapped[dict[str, str]] = mapped_column(JSON)  # asset -> USD price of the round
    wallets: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    wallet_balances: Mapped[dict[str, str]] = mapped_column(JSON)  # asset -> verified wallets' total
    ledger_balances: Mapped[dict[str, str]] = mapped_column(JSON)  # ccy -> ledger balance at the snapshot
    wallets_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    ledger_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FundDisclosure(Base):
    """The words an operator publishes for a fund (protection or risk provision), versioned: the latest is in
    force, earlier ones stay. The figures beside them (funding shares, usage) come from the ledgers."""

    __tablename__ = "fund_disclosures"
    __table_args__ = (UniqueConstraint("fund", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fund: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(Text)
    structure: Mapped[str] = mapped_column(Text)
    triggers: Mapped[str] = mapped_column(Text)
    disclaimers: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(128))
