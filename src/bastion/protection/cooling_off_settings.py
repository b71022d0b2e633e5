"""Cooling-off fast path knobs, from BASTION_COOLING_OFF_* environment variables.

    BASTION_COOLING_OFF_REDIS_PREFIX=bastion:cooling-off:   key prefix in BASTION_REDIS_URL's Redis
    BASTION_COOLING_OFF_CACHE_SECONDS=60                     longest a "no period" answer is reused
    BASTION_COOLING_OFF_CACHE_ENTRIES=1000000                users remembered per process
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CoolingOffSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BASTION_COOLING_OFF_", extra="ignore", frozen=True)

    redis_prefix: str = "bastion:cooling-off:"
    # A backstop only: an activation invalidates "no period" answers at once (see cooling_off_cache). This
    # bounds how long one may live if that signal was lost (an activation that failed after its commit).
    cache_seconds: float = Field(default=60.0, ge=0)
    cache_entries: int = Field(default=1_000_000, ge=1)
