"""Due-diligence settings (env BASTION_DILIGENCE_*); the triggers themselves are data (`diligence.rules`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DiligenceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BASTION_DILIGENCE_", extra="ignore")

    # The largest document a user may upload (bytes); a larger one is refused (413) before it is read whole.
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    # Documents one request may hold.
    max_documents: int = Field(default=20, ge=1, le=200)
    # Days answers and documents of a decided request are kept (EU AMLD art. 40: five years after the
    # relationship); `bastion compliance purge` deletes what is older.
    retention_days: int = Field(default=5 * 365, ge=1, le=36500)
