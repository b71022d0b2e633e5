"""The step-up domain's tables (migration branch `stepup`): challenges bound to a withdrawal, the audit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.base import Base

Ts = DateTime(timezone=True)


class StepUpChallenge(Base):
    """A WebAuthn challenge issued for one withdrawal's step-up. The challenge itself is not stored: it is
    recomputed from the withdrawal, `expires_at` and `nonce` (so it cannot be moved to another withdrawal)."""

    __tablename__ = "stepup_challenges"
    # SHA-256 of the challenge: found from the clientDataJSON the authenticator signed.
    challenge_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("risk_decisions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(Ts)
    expires_at: Mapped[datetime] = mapped_column(Ts)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class StepUpAttempt(Base):
    """Every step-up attempt on a withdrawal, passed or refused (and why), with the session that made it."""

    __tablename__ = "stepup_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("risk_decisions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(128))
    method: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(8))  # passed / refused
    reason: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(Ts)
