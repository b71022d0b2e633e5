"""Alert delivery settings, read from BASTION_* environment variables.

    BASTION_SMTP_URL=smtp://user:pass@mail.internal:587?starttls=true   email channel (unset: email rows wait)
    BASTION_ALERT_FROM="Bastion <alerts@bastion.example>"               From: of every alert email
    BASTION_ALERT_WEBHOOK_URL=https://notify.internal/bastion           webhook channel (unset: webhook rows wait)
    BASTION_ALERT_WEBHOOK_SECRET=...                                    HMAC-SHA256 key of the webhook signature
    BASTION_ALERT_VERIFY_URL=https://bastion.example/v1/public/verify   what the scam warning links to
    BASTION_NOTIFY_DISPATCH_INTERVAL_SECONDS=5                          run the dispatcher inside `bastion serve`

`bastion.settings.Settings.notify` holds one; the domain takes the `DispatchPolicy` and channel objects built
from it, never the environment.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BASTION_", extra="ignore", frozen=True)

    # smtp://[user:pass@]host[:port][?starttls=true] or smtps://... (implicit TLS). Unset: email rows stay due.
    smtp_url: SecretStr | None = None
    # Seconds a dispatcher waits on the mail server or webhook before counting the attempt as failed.
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    alert_from: str = "Bastion <alerts@bastion.example>"
    # The exchange's notification service. Unset: webhook rows stay due until it is configured.
    alert_webhook_url: str | None = None
    alert_webhook_secret: SecretStr | None = None
    # The public official-channel check that every alert's scam warning links to.
    alert_verify_url: str = "http://localhost:8000/v1/public/verify"
    # 0: the service does not dispatch (run `bastion notify dispatch`); > 0: a background loop every N seconds.
    notify_dispatch_interval_seconds: float = Field(default=0.0, ge=0)
    # Retries: the first retry after base seconds, doubling up to max; after max_attempts a row is `failed`
    # (kept, counted, and re-queued by `bastion notify retry`).
    notify_backoff_base_seconds: float = Field(default=30.0, gt=0)
    notify_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    notify_max_attempts: int = Field(default=25, ge=1)
    # A claimed row is due again after this long if its dispatcher never reports back (it died mid-send).
    notify_lease_seconds: float = Field(default=300.0, gt=0)
    notify_batch_size: int = Field(default=50, ge=1, le=1000)
