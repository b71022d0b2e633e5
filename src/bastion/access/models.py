"""Service and operator credentials, and the audit of their use."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.base import Base
from bastion.db.types import UtcDateTime


class AccessCredential(Base):
    """A named credential for a machine of the exchange or for the back office.

    Only the SHA-256 digest of the token is kept: the token is 256 random bits, so a plain hash is as good as
    a slow one, and it lets every request be checked with one dictionary lookup."""

    __tablename__ = "access_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(Text)  # comma-separated, sorted
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # made by `bastion serve` because nothing else was configured; the service stays on loopback while
    # these are the only credentials
    bootstrap: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    uses: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


class AccessUse(Base):
    """Uses of a credential on one route within one audit window (written in batches, not per request)."""

    __tablename__ = "access_uses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    credential: Mapped[str] = mapped_column(String(64), index=True)  # the credential's name
    route: Mapped[str] = mapped_column(String(200))  # "POST /v1/liquidations"
    outcome: Mapped[str] = mapped_column(String(16))  # "allowed" or "forbidden"
    count: Mapped[int] = mapped_column(BigInteger)
    first_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
