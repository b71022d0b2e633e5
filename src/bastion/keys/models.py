"""API keys, third-party apps, Fast API authorization codes, and the audit trail of both."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bastion.db.base import Base
from bastion.db.types import UtcDateTime


class ApiKey(Base):
    """One API key. The id is the public OK-ACCESS-KEY; the secret is sealed, the passphrase hashed.

    Revoked and swept keys keep their row (for the audit trail and the monthly counts) with the secret and
    passphrase hash wiped, so a database leak after deletion reveals nothing usable.
    """

    __tablename__ = "keys_api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(String(50))
    permissions: Mapped[str] = mapped_column(String(32))  # "read,trade,withdraw"
    ips: Mapped[str] = mapped_column(Text, default="")  # comma-separated canonical addresses / CIDR ranges
    ip_count: Mapped[int] = mapped_column(Integer, default=0)  # kept so the sweeper can filter in SQL
    secret_sealed: Mapped[str | None] = mapped_column(Text)
    passphrase_hash: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # "direct" or "fast_api"
    app_id: Mapped[str | None] = mapped_column(ForeignKey("keys_third_party_apps.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    revoke_reason: Mapped[str | None] = mapped_column(String(16))  # "user", "operator", "swept", "replaced"

    __table_args__ = (
        # Fast API: one live key per user and app, enforced by the database against racing token requests.
        Index(
            "uq_keys_api_keys_live_app_binding",
            "user_id",
            "app_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL AND app_id IS NOT NULL"),
            postgresql_where=text("revoked_at IS NULL AND app_id IS NOT NULL"),
        ),
    )


class ThirdPartyApp(Base):
    """A registered third-party application that may obtain keys through Fast API."""

    __tablename__ = "keys_third_party_apps"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the OAuth client_id
    name: Mapped[str] = mapped_column(String(80))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    # The client secret is 256 random bits, so a plain SHA-256 is as good as a slow hash here.
    client_secret_sha256: Mapped[str] = mapped_column(String(64))
    ips: Mapped[str] = mapped_column(Text)  # the app's servers; every key it obtains is bound to these
    max_permission: Mapped[str] = mapped_column(String(16))  # "read" or "trade", never "withdraw"
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FastApiCode(Base):
    """A one-time authorization code: a user consented to give `app_id` a key with `permissions`."""

    __tablename__ = "keys_fast_api_codes"

    code_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)  # the code itself is never stored
    app_id: Mapped[str] = mapped_column(ForeignKey("keys_third_party_apps.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    permissions: Mapped[str] = mapped_column(String(32))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    key_id: Mapped[str | None] = mapped_column(String(36))


class ApiKeyEvent(Base):
    """Audit trail: every creation, IP change, revocation and sweep, with who did it."""

    __tablename__ = "keys_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(36), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))  # created, ips_updated, revoked, swept
    actor: Mapped[str] = mapped_column(String(80))  # "user", "operator", "cli", "sweeper", "app:<client_id>"
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class ApiKeyRejection(Base):
    """One refused signed request: which OKX code, for what key header, from where."""

    __tablename__ = "keys_rejections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    code: Mapped[str] = mapped_column(String(8))
    key_id: Mapped[str] = mapped_column(String(64))  # the header as sent (truncated); may name no key
    ip: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(200))


class KeysAuthVersion(Base):
    """One row (id 1): the version of everything the authenticator's per-process cache holds (`keys/authcache.py`).

    Every change that must reach the cache (a key revoked, swept or replaced, its IP allowlist changed, its user
    frozen or unfrozen) moves it in the same transaction; each service process reads it at most every 0.5 s and
    empties its cache when it moved. A missing row (first use, or a table emptied) is re-created at a random
    number, so a version can never come back to a value a process has seen."""

    __tablename__ = "keys_auth_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
