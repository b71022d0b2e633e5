"""Tables of the account security center (migration branch `account`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.base import Base

UserId = String(64)
Ts = DateTime(timezone=True)


class AccountDevice(Base):
    """A device the user logged in from (the login service's fingerprint), as the user sees it in their list.
    `id` is random, so a device id says nothing about anyone else's devices. A removed device that logs in
    again is new again (first seen, alert)."""

    __tablename__ = "account_devices"
    __table_args__ = (UniqueConstraint("user_id", "fingerprint"), Index("ix_account_devices_user", "user_id"))
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(UserId)
    fingerprint: Mapped[str] = mapped_column(String(128))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip: Mapped[str | None] = mapped_column(String(45))
    asn: Mapped[int | None] = mapped_column(Integer)
    country: Mapped[str | None] = mapped_column(String(2))
    first_seen_at: Mapped[datetime] = mapped_column(Ts)
    last_seen_at: Mapped[datetime] = mapped_column(Ts)
    removed_at: Mapped[datetime | None] = mapped_column(Ts)


class AccountSession(Base):
    """A login session (the `sid` of the user's session JWTs). Once ended it stays ended: a token naming it is
    refused, and a later login naming the same sid cannot bring it back."""

    __tablename__ = "account_sessions"
    __table_args__ = (Index("ix_account_sessions_user", "user_id"), Index("ix_account_sessions_device", "device_id"))
    sid: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(UserId)
    device_id: Mapped[str] = mapped_column(ForeignKey("account_devices.id"))
    started_at: Mapped[datetime] = mapped_column(Ts)
    ended_at: Mapped[datetime | None] = mapped_column(Ts)
    end_reason: Mapped[str | None] = mapped_column(String(32))


class AccountState(Base):
    """A user's account: frozen or not, and since when every session token issued earlier is refused."""

    __tablename__ = "account_state"
    user_id: Mapped[str] = mapped_column(UserId, primary_key=True)
    frozen_at: Mapped[datetime | None] = mapped_column(Ts)
    frozen_by: Mapped[str | None] = mapped_column(String(128))
    frozen_reason: Mapped[str | None] = mapped_column(String(256))
    # Tokens issued (iat) before this are refused: sessions the login service never told us about end too.
    sessions_not_before: Mapped[datetime | None] = mapped_column(Ts)


class AccountUnfreezeCase(Base):
    """An operator case to unfreeze an account: opened by one credential, closed by another after the user's
    identity was re-verified (who verified, how, and the evidence's reference in the case system)."""

    __tablename__ = "account_unfreeze_cases"
    __table_args__ = (Index("ix_account_unfreeze_cases_user", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(UserId)
    opened_by: Mapped[str] = mapped_column(String(128))
    opened_at: Mapped[datetime] = mapped_column(Ts)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # open / unfrozen / cancelled
    verified_by: Mapped[str | None] = mapped_column(String(128))
    verification_method: Mapped[str | None] = mapped_column(String(32))
    evidence_ref: Mapped[str | None] = mapped_column(String(128))
    closed_at: Mapped[datetime | None] = mapped_column(Ts)


class AccountAudit(Base):
    """Every step of the account security center: logins, device removals, freezes, cases, allowlist changes."""

    __tablename__ = "account_audit"
    __table_args__ = (Index("ix_account_audit_user_at", "user_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(UserId)
    at: Mapped[datetime] = mapped_column(Ts)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
