"""Mistaken deposits: find why a deposit was not credited, open a case, and walk it to a resolution.

Reasons, in the words exchanges use on their self-service pages: the token was sent over a network the
exchange does not take it on (wrong network), the token is not listed at all (unlisted token), or the chain
needs a memo/tag that was missing or matched no account (missing memo). A case moves through
opened -> investigating -> recoverable | unrecoverable -> returned | credited -> closed, every move written
to an audit trail with who did it. Unlisted tokens that land on an address we control on a chain we can
send from are returned automatically, for the network fee only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal


class DepositReason(enum.StrEnum):
    WRONG_NETWORK = "wrong_network"
    UNLISTED_TOKEN = "unlisted_token"
    MISSING_MEMO = "missing_memo"


class CaseState(enum.StrEnum):
    OPENED = "opened"
    INVESTIGATING = "investigating"
    RECOVERABLE = "recoverable"
    UNRECOVERABLE = "unrecoverable"
    RETURNED = "returned"
    CREDITED = "credited"
    CLOSED = "closed"


TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    CaseState.OPENED: frozenset({CaseState.INVESTIGATING, CaseState.RECOVERABLE}),
    CaseState.INVESTIGATING: frozenset({CaseState.RECOVERABLE, CaseState.UNRECOVERABLE}),
    CaseState.RECOVERABLE: frozenset({CaseState.RETURNED, CaseState.CREDITED}),
    CaseState.UNRECOVERABLE: frozenset({CaseState.CLOSED}),
    CaseState.RETURNED: frozenset({CaseState.CLOSED}),
    CaseState.CREDITED: frozenset({CaseState.CLOSED}),
    CaseState.CLOSED: frozenset(),
}

RESOLVED = frozenset({CaseState.RETURNED, CaseState.CREDITED, CaseState.UNRECOVERABLE})


class CaseError(ValueError):
    """A move the case rules refuse; the message names the field."""


def check_transition(current: CaseState, target: CaseState) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (closed)"
        raise CaseError(f"state: a case that is {current} cannot move to {target}; allowed: {allowed}")


@dataclass(frozen=True, slots=True)
class Listing:
    """What the exchange takes: tokens per chain, chains that need a memo, chains it can auto-return on."""

    tokens: dict[str, frozenset[str]] = field(default_factory=dict)  # chain -> listed token ids
    memo_chains: frozenset[str] = frozenset()
    auto_return_chains: frozenset[str] = frozenset()

    def listed_anywhere(self, token: str) -> bool:
        return any(token in listed for listed in self.tokens.values())


DEFAULT_LISTING = Listing(
    tokens={
        "ETH": frozenset({"ETH", "USDT", "USDC"}),
        "TRON": frozenset({"TRX", "USDT"}),
        "BTC": frozenset({"BTC"}),
        "XRP": frozenset({"XRP"}),
        "TON": frozenset({"TON", "USDT"}),
    },
    memo_chains=frozenset({"XRP", "TON"}),
    auto_return_chains=frozenset({"ETH", "TRON"}),
)


@dataclass(frozen=True, slots=True)
class ObservedDeposit:
    """A transfer the exchange's chain watcher saw arrive at one of its addresses."""

    chain: str
    txid: str
    token: str
    to_address: str
    memo: str | None
    memo_matches_account: bool  # the watcher knows whether the memo names one of our accounts


def mistake_reason(deposit: ObservedDeposit, listing: Listing) -> DepositReason | None:
    """Why this deposit cannot be credited automatically, or None when it is an ordinary deposit."""
    if deposit.token not in listing.tokens.get(deposit.chain, frozenset()):
        return (
            DepositReason.WRONG_NETWORK
            if listing.listed_anywhere(deposit.token)
            else DepositReason.UNLISTED_TOKEN
        )
    if deposit.chain in listing.memo_chains and (not deposit.memo or not deposit.memo_matches_account):
        return DepositReason.MISSING_MEMO
    return None


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Manual recovery costs engineering time: a share of the value with a floor; automatic returns cost
    only the network fee. Fees never exceed the deposit."""

    manual_rate: Decimal = Decimal("0.05")
    manual_min_usd: Decimal = Decimal("20")
    network_fee_usd: Decimal = Decimal("2")

    def fee(self, amount: Decimal, usd_value: Decimal, automatic: bool, unit: Decimal) -> Decimal:
        """Fee in token units for a deposit of `amount` worth `usd_value`, rounded up to `unit`."""
        if amount <= 0 or usd_value <= 0:
            return Decimal(0)  # nothing priced: nothing to charge against
        price = usd_value / amount
        fee_usd = (
            self.network_fee_usd if automatic else max(self.manual_rate * usd_value, self.manual_min_usd)
        )
        return min(amount, (fee_usd / price).quantize(unit, rounding=ROUND_CEILING))


def automatic_return(
    reason: DepositReason, chain: str, usd_value: Decimal, listing: Listing, fees: FeeSchedule
) -> bool:
    """Unlisted tokens on a chain we send from go back by themselves, if they are worth the network fee."""
    return (
        reason is DepositReason.UNLISTED_TOKEN
        and chain in listing.auto_return_chains
        and usd_value > fees.network_fee_usd
    )
