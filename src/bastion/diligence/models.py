"""Tables of the due-diligence domain (migration branch `diligence`).

Answers and documents are personal data: stored sealed (AES-256-GCM, `bastion.db.sealing`, bound to their
request and user), never in clear, and deleted by the purge once past retention."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.base import Base
from bastion.db.types import ExactDecimal, UtcDateTime
from bastion.db.versioned import VersionedDefinition


class DiligenceRuleSet(VersionedDefinition, Base):
    """A version of the triggers, as data. At most one is active; old ones explain requests opened under them."""

    __tablename__ = "diligence_rule_sets"
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(128))


class DiligenceDeposit(Base):
    """A credited deposit's USD value, for the 30-day cumulative trigger (idempotent by event id)."""

    __tablename__ = "diligence_deposits"
    __table_args__ = (Index("ix_diligence_deposits_user_at", "user_id", "at"),)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    amount_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class DiligenceRequest(Base):
    """A due-diligence request to one user. `open_key` is "<user>|<reason>" while the request is undecided
    (NULL after): its unique constraint makes "one open request per user and reason" hold under races."""

    __tablename__ = "diligence_requests"
    __table_args__ = (Index("ix_diligence_requests_status_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(24))
    # open -> answered -> approved | rejected (overdue is computed: open past due_at)
    status: Mapped[str] = mapped_column(String(12))
    open_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    rules_version: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decision_note: Mapped[str | None] = mapped_column(Text)
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DiligenceAnswer(Base):
    """The questionnaire's answers, sealed (JSON inside)."""

    __tablename__ = "diligence_answers"
    request_id: Mapped[int] = mapped_column(ForeignKey("diligence_requests.id", ondelete="CASCADE"), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    answered_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DiligenceDocument(Base):
    """A source-of-funds or source-of-wealth document, sealed; its type as found in its content."""

    __tablename__ = "diligence_documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("diligence_requests.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(24))
    media_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DiligenceAudit(Base):
    """Every state change and every read of a user's documents: who (the credential, or the user), when, what."""

    __tablename__ = "diligence_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int | None] = mapped_column(Integer, index=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
