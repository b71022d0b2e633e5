"""Service settings, read from BASTION_* environment variables.

Every process (`bastion serve` workers, CLI commands, tests) builds its own `Settings()`; nothing else reads
the environment, so a test can hand a `Settings` object to `create_app` and be sure of what it runs against.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bastion.diligence.settings import DiligenceSettings
from bastion.funds.settings import FundsSettings
from bastion.notify.settings import NotifySettings
from bastion.protection.settings import CoolingOffSettings, DepositsSettings
from bastion.travel_rule.settings import TravelRuleSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BASTION_", extra="ignore")

    # Where the default SQLite database, the generated secret key and other local state live.
    data_dir: Path = Path("bastion-data")
    # SQLAlchemy URL. Unset: a SQLite file under data_dir. Production: postgresql+psycopg://...
    database_url: str = ""
    # Optional; domains that share state across service processes (rate limits) use it when set.
    redis_url: str | None = None
    # Key material for secrets stored encrypted at rest (TOTP seeds, API secrets). Unset: a random key is
    # generated once into data_dir/secret.key, which suits one machine; set it for anything shared.
    secret_key: SecretStr | None = None
    # A bootstrap admin credential from the environment (every service and operator scope), for setups that
    # predate named credentials (`bastion tokens create`); its uses are audited as "env:BASTION_OPERATOR_TOKEN".
    operator_token: SecretStr | None = None
    # Seconds a service process trusts its cached copy of a named credential: a credential revoked from
    # another process stops working within this time (at once in the revoking process).
    access_cache_seconds: float = 2.0
    # Seconds between writes of the credential-use audit (counts per credential and route).
    access_audit_seconds: float = 10.0
    # End users' sessions: the login service's public key(s), a PEM, JWK or JWKS file. Unset: a development
    # key in data_dir (made on first use; `bastion users token` signs with it). Not for production.
    user_session_keys: Path | None = None
    # The `aud` a session token must carry, and the clock skew allowed on exp/nbf/iat.
    user_session_audience: str = "bastion"
    user_session_max_skew_seconds: int = Field(default=30, ge=0, le=300)

    # The request boundary: the largest request body accepted (413 beyond), and the deepest JSON nesting (422).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=4, le=200)

    # WebAuthn relying party: the site users see, and the exact origin their browser reports.
    webauthn_rp_id: str = "localhost"
    webauthn_rp_name: str = "Bastion"
    webauthn_origin: str = "http://localhost:8000"

    # How long a service process may use its cached copy of the active rule set, lists and model before
    # looking for a newer one in the database (other workers or the CLI may have changed them).
    risk_cache_seconds: float = 2.0
    # PostgreSQL only: let risk events and decisions commit without waiting for the WAL flush. Much faster
    # on slow disks; a database crash may lose the last fraction of a second of them (not corrupt anything),
    # and the exchange's retry re-evaluates by event id. Off by default: durable unless you choose.
    risk_async_commit: bool = False

    # API keys: base64 AES-256 keys sealing key secrets at rest, comma-separated, the first seals (rotation).
    # Unset: one is derived from secret_key.
    keys_encryption_keys: SecretStr | None = None
    # API keys: request limits per key and per user on each private route (`limits` notation).
    keys_rate_limit_per_key: str = "20/2 seconds"
    keys_rate_limit_per_user: str = "60/2 seconds"
    # API keys: seconds between sweeps of idle, unbound trade/withdraw keys in the service (0: never).
    keys_sweep_interval_seconds: float = 3600.0
    # Reverse proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For gives the client IP for allowlists.
    trusted_proxies: str = ""
    # Proof of reserves: the round directory the public page (/por/) publishes; unset, the page has no round.
    round_dir: Path | None = None
    # Proof of reserves: a directory of round directories (`bastion serve --rounds DIR`), all published,
    # numbered in order of snapshot time; the newest is the one /por/ shows. Takes precedence over round_dir.
    rounds_dir: Path | None = None

    # Domain settings with their own prefixes: BASTION_FUNDS_*, BASTION_DEPOSITS_*, BASTION_COOLING_OFF_*,
    # BASTION_DILIGENCE_*, BASTION_TRAVEL_RULE_*.
    funds: FundsSettings = Field(default_factory=lambda: FundsSettings())
    deposits: DepositsSettings = Field(default_factory=lambda: DepositsSettings())
    cooling_off: CoolingOffSettings = Field(default_factory=lambda: CoolingOffSettings())
    # Alert delivery (docs/alerts.md): BASTION_SMTP_URL, BASTION_ALERT_WEBHOOK_URL, BASTION_NOTIFY_*.
    notify: NotifySettings = Field(default_factory=lambda: NotifySettings())
    # Due diligence (BASTION_DILIGENCE_*): upload cap, documents per request, retention of answers/documents.
    diligence: DiligenceSettings = Field(default_factory=lambda: DiligenceSettings())
    # The Travel Rule (BASTION_TRAVEL_RULE_*): who we are to counterparties, hold deadline, message window.
    travel_rule: TravelRuleSettings = Field(default_factory=lambda: TravelRuleSettings())

    @field_validator("operator_token")
    @classmethod
    def _unset_when_empty(cls, v: SecretStr | None) -> SecretStr | None:
        # `BASTION_OPERATOR_TOKEN=` (empty) is no credential: treated as unset, so `bastion serve` makes the
        # bootstrap one and keeps to loopback, instead of announcing an admin token that opens nothing.
        return None if v is not None and not v.get_secret_value().strip() else v

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'bastion.sqlite').as_posix()}"
        return self

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def secret_key_bytes(self) -> bytes:
        """32 bytes of key material: from BASTION_SECRET_KEY, else from (or once into) data_dir/secret.key."""
        if self.secret_key is not None:
            raw = self.secret_key.get_secret_value().encode()
            if len(raw) < 32:
                raise ValueError("BASTION_SECRET_KEY must be at least 32 characters")
            return raw
        path = self.ensure_data_dir() / "secret.key"
        try:
            # O_EXCL: several workers starting at once agree on the first key written.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as fh:
            key = secrets.token_hex(32).encode()
            fh.write(key)
        return key
