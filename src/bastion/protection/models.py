"""The protection domain's tables, all in one place: anti-phishing codes, TOTP, passkeys and WebAuthn
challenges, cooling-off periods and refusals, mistaken-deposit observations and cases, beginner protection.

The logic that reads and writes them lives beside, one module a protection (`cooling_off.py`, `deposits.py`,
`totp.py`, ...). Sealed columns hold values of `bastion.db.sealing`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.base import Base
from bastion.db.types import ExactDecimal, UtcDateTime


# ------------------------------------------------------------------------------------ anti phishing
class AntiPhishingCode(Base):
    __tablename__ = "account_anti_phishing"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Sealed: a leaked database must not hand phishers the codes that make their mails look genuine.
    code_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --------------------------------------------------------------------------------------------- totp
class TotpCredential(Base):
    __tablename__ = "account_totp"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ----------------------------------------------------------------------------------------- passkeys
class PasskeyCredential(Base):
    __tablename__ = "account_passkeys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer)
    transports: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebAuthnChallenge(Base):
    __tablename__ = "account_webauthn_challenges"
    # SHA-256 of the challenge: looked up from the clientDataJSON the browser signs.
    challenge_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(16))
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    credential_ref: Mapped[int | None] = mapped_column(ForeignKey("account_passkeys.id", ondelete="CASCADE"))


# -------------------------------------------------------------------------------------- cooling off
class CoolingOffActivation(Base):
    __tablename__ = "protection_cooling_off_activations"
    __table_args__ = (Index("ix_protection_cooling_off_user_end", "user_id", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), unique=True)  # idempotency key
    user_id: Mapped[str] = mapped_column(String(128))
    period: Mapped[str] = mapped_column(String(8))
    days: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CoolingOffRefusal(Base):
    """An order refused because of a running period: the monthly report counts them."""

    __tablename__ = "protection_cooling_off_refusals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    inst_type: Mapped[str] = mapped_column(String(16))
    inst_id: Mapped[str] = mapped_column(String(64))
    effect: Mapped[str] = mapped_column(String(16))


# ----------------------------------------------------------------------------------------- deposits
class DepositObservation(Base):
    """A transfer the chain watcher saw arrive and could not credit as an ordinary deposit."""

    __tablename__ = "protection_deposit_observations"
    __table_args__ = (UniqueConstraint("chain", "txid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain: Mapped[str] = mapped_column(String(32))
    txid: Mapped[str] = mapped_column(String(128))
    token: Mapped[str] = mapped_column(String(64))
    to_address: Mapped[str] = mapped_column(String(128))
    memo: Mapped[str | None] = mapped_column(String(128), nullable=True)
    memo_matches_account: Mapped[bool] = mapped_column(Boolean)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    usd_value: Mapped[Decimal] = mapped_column(ExactDecimal)  # at arrival
    user_id: Mapped[str | None] = mapped_column(String(128), nullable=True)  # owner of the address, if known
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DepositCase(Base):
    __tablename__ = "protection_deposit_cases"
    __table_args__ = (UniqueConstraint("chain", "txid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain: Mapped[str] = mapped_column(String(32))
    txid: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    reason: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    automatic: Mapped[bool] = mapped_column(Boolean)
    token: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    usd_value: Mapped[Decimal] = mapped_column(ExactDecimal)
    fee: Mapped[Decimal] = mapped_column(ExactDecimal)  # token units, charged when returned or credited
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class DepositCaseEvent(Base):
    """Audit trail: every state a case entered, when, by whom, and why."""

    __tablename__ = "protection_deposit_case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("protection_deposit_cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(500), default="")


# ----------------------------------------------------------------------------------------- beginner
# --------------------------------------------------------------------------------------------- storage
class BeginnerRuleset(Base):
    __tablename__ = "beginner_rulesets"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text)


class BeginnerAccount(Base):
    """What Bastion knows of a trader's experience: told by the exchange, or first seen at a precheck."""

    __tablename__ = "beginner_accounts"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    prior_derivatives: Mapped[bool] = mapped_column(Boolean)  # traded derivatives before Bastion knew them
    first_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # starts the cooling-off
    first_trade_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    # Whether beginner protection applied to the trader when their first derivatives trade happened, and
    # under which rule-set version: the cohorts of the effect measurement.
    protected_at_first_trade: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    version_at_first_trade: Mapped[int | None] = mapped_column(Integer, nullable=True)
    questionnaire_passed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class BeginnerRefusal(Base):
    __tablename__ = "beginner_refusals"
    __table_args__ = (Index("ix_beginner_refusals_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    rule: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    criteria: Mapped[list[str]] = mapped_column(JSON)


class QuestionnaireAttempt(Base):
    """Every attempt, with the answers given: the audit of who lifted their protection and how."""

    __tablename__ = "beginner_questionnaire_attempts"
    __table_args__ = (Index("ix_beginner_questionnaire_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict[str, int]] = mapped_column(JSON)
    score: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)


class MarginEvent(Base):
    """A margin call or a liquidation of one trader, as the exchange's risk engine reports it (idempotent by
    id). The fund's liquidation feed carries no user; this one does, which the effect measurement needs."""

    __tablename__ = "beginner_margin_events"
    __table_args__ = (Index("ix_beginner_margin_events_user_ts", "user_id", "ts"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # margin_call | liquidation
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    liquidation_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
