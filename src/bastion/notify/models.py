"""The notify domain's tables: the outbox, users' contact addresses, and the official-channel registry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.base import Base
from bastion.db.types import UtcDateTime


class OutboxRow(Base):
    """One alert to deliver on one channel, written in the transaction of the event that causes it.

    `(dedupe_key, channel)` is unique: the causing event retried enqueues nothing new. The dispatcher claims a
    due row by moving `next_attempt_at` forward by a lease (so a dispatcher that dies mid-send leaves the row
    due again once the lease ends), and marks it delivered only after the channel accepted it.
    """

    __tablename__ = "notify_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))  # "email" | "webhook"
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    data: Mapped[str] = mapped_column(Text)  # JSON object of strings
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))  # "pending" | "delivered" | "failed" | "skipped"
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(36))
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        UniqueConstraint("dedupe_key", "channel"),
        # The dispatcher's one query: pending rows whose time has come, oldest first.
        Index("ix_notify_outbox_due", "status", "next_attempt_at"),
    )


class Contact(Base):
    """Where a user's email alerts go, ingested from the exchange's account service."""

    __tablename__ = "notify_contacts"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Sealed: a leaked database must not hand out the mailing list of every account holder.
    email_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OfficialChannel(Base):
    """A website domain, email sender, phone number or social handle the exchange really uses."""

    __tablename__ = "notify_official_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "website" | "email" | "phone" | "social"
    value: Mapped[str] = mapped_column(String(254))  # normalised (see bastion.notify.channels.normalise)
    note: Mapped[str] = mapped_column(String(100), default="")
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    added_by: Mapped[str] = mapped_column(String(120))

    __table_args__ = (UniqueConstraint("kind", "value"),)
