"""Tables of the risk domain (migration branch `risk`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.base import Base
from bastion.db.versioned import VersionedDefinition

UserId = String(64)
Money = Numeric(28, 8)
Ts = DateTime(timezone=True)


class RiskEvent(Base):
    """Every event received (login, credential change, address-book change), kept as sent: the idempotency
    record (same id and payload: duplicate; same id, other payload: conflict) and the audit of inputs."""

    __tablename__ = "risk_events"
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[str] = mapped_column(UserId, index=True)
    occurred_at: Mapped[datetime] = mapped_column(Ts)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload_hash: Mapped[str] = mapped_column(String(64))


class RiskUserState(Base):
    """What the rules need to know about a user's account settings, kept current as events arrive."""

    __tablename__ = "risk_user_state"
    user_id: Mapped[str] = mapped_column(UserId, primary_key=True)
    last_credential_change_at: Mapped[datetime | None] = mapped_column(Ts)
    last_credential_change_kind: Mapped[str | None] = mapped_column(String(24))
    allowlist_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set while the account is frozen (the user, an operator or a service froze it): every withdrawal blocks.
    frozen_at: Mapped[datetime | None] = mapped_column(Ts)


class RiskDevice(Base):
    __tablename__ = "risk_devices"
    user_id: Mapped[str] = mapped_column(UserId, primary_key=True)
    device: Mapped[str] = mapped_column(String(128), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(Ts)
    last_seen_at: Mapped[datetime] = mapped_column(Ts)


class RiskLogin(Base):
    """A login with what was new about it, worked out once on arrival so that decisions only read flags."""

    __tablename__ = "risk_logins"
    __table_args__ = (Index("ix_risk_logins_user_at", "user_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(UserId)
    at: Mapped[datetime] = mapped_column(Ts)
    success: Mapped[bool] = mapped_column(Boolean)
    ip: Mapped[str | None] = mapped_column(String(45))
    device: Mapped[str | None] = mapped_column(String(128))
    country: Mapped[str | None] = mapped_column(String(2))
    asn: Mapped[int | None] = mapped_column(Integer)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    new_device: Mapped[bool] = mapped_column(Boolean, default=False)
    new_asn: Mapped[bool] = mapped_column(Boolean, default=False)
    new_country: Mapped[bool] = mapped_column(Boolean, default=False)
    # Speed implied by the distance from the previous successful login (km/h); None when unknown.
    travel_kmh: Mapped[float | None] = mapped_column(Float)


class RiskAddress(Base):
    """The user's withdrawal address book; re-adding a removed address makes it new again."""

    __tablename__ = "risk_addresses"
    user_id: Mapped[str] = mapped_column(UserId, primary_key=True)
    address: Mapped[str] = mapped_column(String(128), primary_key=True)
    chain: Mapped[str | None] = mapped_column(String(32))
    label: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(Ts)
    removed_at: Mapped[datetime | None] = mapped_column(Ts)


class RiskListEntry(Base):
    """Reputation lists: `phishing_address` (known-bad destinations), `bad_ip` (addresses or CIDR ranges)."""

    __tablename__ = "risk_list_entries"
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), primary_key=True)
    source: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(Ts)


class RiskRuleset(VersionedDefinition, Base):
    """A version of the rules, as data. Exactly one is active; old versions stay for explaining decisions."""

    __tablename__ = "risk_rulesets"
    created_at: Mapped[datetime] = mapped_column(Ts)
    created_by: Mapped[str] = mapped_column(String(64))


class RiskSnooze(Base):
    """A rule switched off for one user until a time (e.g. a known traveller and impossible_travel)."""

    __tablename__ = "risk_snoozes"
    __table_args__ = (Index("ix_risk_snoozes_user_until", "user_id", "until"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(UserId)
    rule_id: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime] = mapped_column(Ts)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Ts)


class RiskDecision(Base):
    """One evaluated withdrawal request: inputs, features, every fired rule, the model's part, the outcome,
    and (for held ones) the review. Enough to explain the decision later without recomputing anything."""

    __tablename__ = "risk_decisions"
    __table_args__ = (
        Index("ix_risk_decisions_user_at", "user_id", "requested_at"),
        Index("ix_risk_decisions_address_at", "address", "requested_at"),
        Index("ix_risk_decisions_review", "review_status", "requested_at"),
        Index("ix_risk_decisions_at", "requested_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(UserId)
    requested_at: Mapped[datetime] = mapped_column(Ts)
    asset: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)
    amount_usd: Mapped[Decimal] = mapped_column(Money)
    address: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(8))
    score: Mapped[float] = mapped_column(Float)
    rules_score: Mapped[float] = mapped_column(Float)
    model_score: Mapped[float] = mapped_column(Float)
    ruleset_version: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    rule_results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model_detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending / approved / rejected for held withdrawals; NULL for allowed and blocked ones.
    review_status: Mapped[str | None] = mapped_column(String(10))
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(Ts)


class RiskRuleHit(Base):
    """A rule that fired on a decision (snoozed hits too, contributing 0): the hits per rule per month."""

    __tablename__ = "risk_rule_hits"
    __table_args__ = (Index("ix_risk_rule_hits_rule_at", "rule_id", "requested_at"),)
    decision_id: Mapped[int] = mapped_column(ForeignKey("risk_decisions.id", ondelete="CASCADE"), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(Ts)
    contribution: Mapped[float] = mapped_column(Float)
    snoozed: Mapped[bool] = mapped_column(Boolean, default=False)


class RiskReviewAction(Base):
    """The analysts' audit trail on held withdrawals."""

    __tablename__ = "risk_review_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("risk_decisions.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    analyst: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(Ts)


class RiskModelState(Base):
    """The learned model (a pickled river pipeline), one row per model name, updated under a row lock."""

    __tablename__ = "risk_model_state"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    samples: Mapped[int] = mapped_column(Integer)
    positives: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(Ts)


class RiskConfigVersion(Base):
    """A counter per cached thing (rules, lists, model): service processes reload what changed."""

    __tablename__ = "risk_config_versions"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class RiskLiveLog(Base):
    """Every change to what decisions read (logins, devices, account settings, address book, decisions,
    reviews, snoozes), in commit order: service workers keep that state in memory and tail this log to see
    each other's changes (and their own) before deciding. Rows are appended under one lock per database
    (PostgreSQL: an advisory lock held to commit; SQLite: the single writer), so `seq` grows in commit order
    and a reader never skips a row committed after it looked. Old rows are pruned (minutes are enough)."""

    __tablename__ = "risk_live_log"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(UserId)
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(Ts, index=True)


class RiskAccountHold(Base):
    """A hold another part of the exchange places on a user's withdrawals (today: an open due-diligence
    request): while the row exists, the user's withdrawals above `over_usd` are answered `hold` with `reason`.
    Kept in memory by the hot path like the other account state (loaded with the user, fresh through the live
    log), so checking it costs no query."""

    __tablename__ = "risk_account_holds"
    user_id: Mapped[str] = mapped_column(UserId, primary_key=True)
    reason: Mapped[str] = mapped_column(String(24), primary_key=True)
    over_usd: Mapped[Decimal] = mapped_column(Money)
    since: Mapped[datetime] = mapped_column(Ts)
