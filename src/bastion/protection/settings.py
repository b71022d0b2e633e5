"""The protection domain's settings, from environment variables: one block per protection.

Cooling-off fast path knobs (BASTION_COOLING_OFF_*):

    BASTION_COOLING_OFF_REDIS_PREFIX=bastion:cooling-off:   key prefix in BASTION_REDIS_URL's Redis
    BASTION_COOLING_OFF_CACHE_SECONDS=60                     longest a "no period" answer is reused
    BASTION_COOLING_OFF_CACHE_ENTRIES=1000000                users remembered per process

Mistaken-deposit fee schedule and listing (BASTION_DEPOSITS_*):

    BASTION_DEPOSITS_MANUAL_FEE_RATE=0.05       manual recovery: this share of the value ...
    BASTION_DEPOSITS_MANUAL_FEE_MIN_USD=20      ... and at least this much
    BASTION_DEPOSITS_NETWORK_FEE_USD=2          automatic return: the network fee only
    BASTION_DEPOSITS_TOKENS='{"ETH": ["ETH", "USDT"], ...}'   tokens the exchange takes, per chain (JSON)
    BASTION_DEPOSITS_MEMO_CHAINS='["XRP", "TON"]'             chains whose deposits need a memo/tag
    BASTION_DEPOSITS_AUTO_RETURN_CHAINS='["ETH", "TRON"]'     chains unlisted tokens are sent back on

`bastion.settings.Settings.cooling_off` and `.deposits` hold one each; the domain functions take the resulting
values (`Listing`, `FeeSchedule`, ...), never the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CoolingOffSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BASTION_COOLING_OFF_", extra="ignore", frozen=True)

    redis_prefix: str = "bastion:cooling-off:"
    # A backstop only: an activation invalidates "no period" answers at once (see cooling_off_cache). This
    # bounds how long one may live if that signal was lost (an activation that failed after its commit).
    cache_seconds: float = Field(default=60.0, ge=0)
    cache_entries: int = Field(default=1_000_000, ge=1)


# The values the deposits domain works with (plain data, no storage: the settings stay importable without it).
@dataclass(frozen=True, slots=True)
class Listing:
    """What the exchange takes: tokens per chain, chains that need a memo, chains it can auto-return on.
    Values: `DepositsSettings` (BASTION_DEPOSITS_*)."""

    tokens: dict[str, frozenset[str]] = field(default_factory=dict)  # chain -> listed token ids
    memo_chains: frozenset[str] = frozenset()
    auto_return_chains: frozenset[str] = frozenset()

    def listed_anywhere(self, token: str) -> bool:
        return any(token in listed for listed in self.tokens.values())


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Manual recovery costs engineering time: a share of the value with a floor; automatic returns cost
    only the network fee. Fees never exceed the deposit. Values: `DepositsSettings` (BASTION_DEPOSITS_*)."""

    manual_rate: Decimal
    manual_min_usd: Decimal
    network_fee_usd: Decimal

    def fee(self, amount: Decimal, usd_value: Decimal, automatic: bool, unit: Decimal) -> Decimal:
        """Fee in token units for a deposit of `amount` worth `usd_value`, rounded up to `unit`."""
        if amount <= 0 or usd_value <= 0:
            return Decimal(0)  # nothing priced: nothing to charge against
        price = usd_value / amount
        fee_usd = (
            self.network_fee_usd if automatic else max(self.manual_rate * usd_value, self.manual_min_usd)
        )
        return min(amount, (fee_usd / price).quantize(unit, rounding=ROUND_CEILING))


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
        return Listing(
            tokens={chain: frozenset(tokens) for chain, tokens in self.tokens.items()},
            memo_chains=frozenset(self.memo_chains),
            auto_return_chains=frozenset(self.auto_return_chains),
        )

    def fees(self) -> FeeSchedule:
        return FeeSchedule(self.manual_fee_rate, self.manual_fee_min_usd, self.network_fee_usd)


def default_deposits() -> DepositsSettings:
    """The built-in listing and fees (the settings' defaults, not the environment)."""
    return DepositsSettings.model_construct(
        tokens=_default_tokens(), memo_chains=["XRP", "TON"], auto_return_chains=["ETH", "TRON"]
    )
