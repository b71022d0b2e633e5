"""Insurance-fund thresholds, from BASTION_FUNDS_* environment variables (defaults: the exchanges' rules).

    BASTION_FUNDS_WARNING_DRAWDOWN=0.20   warning from this drawdown below the window peak
    BASTION_FUNDS_ADL_DRAWDOWN=0.30       auto-deleveraging from this drawdown
    BASTION_FUNDS_WINDOW_HOURS=8          the trailing window the peak is taken over
    BASTION_FUNDS_ADL_EXIT_MINUTES=60     ADL ends this long after its condition last held (and under warning)

`bastion.settings.Settings.funds` holds one; domain code takes the resulting `PoolPolicy`, never the
environment.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bastion.funds.pool_state import PoolPolicy


class FundsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BASTION_FUNDS_", extra="ignore", frozen=True)

    warning_drawdown: Decimal = Field(default=Decimal("0.20"), gt=0, lt=1, allow_inf_nan=False)
    adl_drawdown: Decimal = Field(default=Decimal("0.30"), gt=0, lt=1, allow_inf_nan=False)
    window_hours: Decimal = Field(default=Decimal(8), gt=0, allow_inf_nan=False)
    adl_exit_minutes: Decimal = Field(default=Decimal(60), ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> FundsSettings:
        if self.warning_drawdown > self.adl_drawdown:
            raise ValueError("warning_drawdown must not exceed adl_drawdown")
        return self

    def policy(self) -> PoolPolicy:
        return PoolPolicy(
            warning_drawdown=self.warning_drawdown,
            adl_drawdown=self.adl_drawdown,
            window=timedelta(seconds=float(self.window_hours * 3600)),
            adl_cooldown=timedelta(seconds=float(self.adl_exit_minutes * 60)),
        )


def default_policy() -> PoolPolicy:
    """The built-in thresholds (the settings' defaults, not the environment): for domain calls that are not
    handed a policy, such as the simulator's reference runs."""
    return FundsSettings.model_construct().policy()
