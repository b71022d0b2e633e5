"""Mistaken-deposit fee schedule and listing, from BASTION_DEPOSITS_* environment variables.

    BASTION_DEPOSITS_MANUAL_FEE_RATE=0.05       manual recovery: this share of the value ...
    BASTION_DEPOSITS_MANUAL_FEE_MIN_USD=20      ... and at least this much
    BASTION_DEPOSITS_NETWORK_FEE_USD=2          automatic return: the network fee only
    BASTION_DEPOSITS_TOKENS='{"ETH": ["ETH", "USDT"], ...}'   tokens the exchange takes, per chain (JSON)
    BASTION_DEPOSITS_MEMO_CHAINS='["XRP", "TON"]'             chains whose deposits need a memo/tag
    BASTION_DEPOSITS_AUTO_RETURN_CHAINS='["ETH", "TRON"]'     chains unlisted tokens are sent back on

`bastion.settings.Settings.deposits` holds one; the domain functions take the resulting `Listing` and
`FeeSchedule`, never the environment.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:  # the settings stay importable without the storage layer
    from bastion.protection.deposits import FeeSchedule, Listing


def _default_tokens() -> dict[str, list[str]]:
    return {
        "ETH": ["ETH", "USDT", "USDC"],
        "TRON": ["TRX", "USDT"],
        "BTC": ["BTC"],
        "XRP": ["XRP"],
        "TON": ["TON", "USDT"],
    }


class DepositsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BASTION_DEPOSITS_", extra="ignore", frozen=True)

    manual_fee_rate: Decimal = Field(default=Decimal("0.05"), ge=0, lt=1, allow_inf_nan=False)
    manual_fee_min_usd: Decimal = Field(default=Decimal(20), ge=0, allow_inf_nan=False)
    network_fee_usd: Decimal = Field(default=Decimal(2), ge=0, allow_inf_nan=False)
    tokens: dict[str, list[str]] = Field(default_factory=_default_tokens)
    memo_chains: list[str] = Field(default_factory=lambda: ["XRP", "TON"])
    auto_return_chains: list[str] = Field(default_factory=lambda: ["ETH", "TRON"])

    @model_validator(mode="after")
    def _known_chains(self) -> DepositsSettings:
        for name in ("memo_chains", "auto_return_chains"):
            unknown = sorted(set(getattr(self, name)) - set(self.tokens))
            if unknown:
                raise ValueError(f"{name}: chains not in tokens: {', '.join(unknown)}")
        return self

    def listing(self) -> Listing:
        from bastion.protection.deposits import Listing

        return Listing(
            tokens={chain: frozenset(tokens) for chain, tokens in self.tokens.items()},
            memo_chains=frozenset(self.memo_chains),
            auto_return_chains=frozenset(self.auto_return_chains),
        )

    def fees(self) -> FeeSchedule:
        from bastion.protection.deposits import FeeSchedule

        return FeeSchedule(self.manual_fee_rate, self.manual_fee_min_usd, self.network_fee_usd)


def default_deposits() -> DepositsSettings:
    """The built-in listing and fees (the settings' defaults, not the environment)."""
    return DepositsSettings.model_construct(
        tokens=_default_tokens(), memo_chains=["XRP", "TON"], auto_return_chains=["ETH", "TRON"]
    )
