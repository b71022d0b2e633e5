"""What the public sees of the protection fund: its size now in USD at the latest round's prices, its
wallets with their verification, and its size over time (per round and per day), all read from the ledger
and the recorded rounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.protection_fund import ledger, wallets
from bastion.protection_fund.models import PfundEntry, PfundWalletRound


@dataclass(frozen=True, slots=True)
class FundSize:
    balances: dict[str, Decimal]  # the ledger, per currency
    prices: dict[str, Decimal]  # of the latest recorded round; empty before the first
    total_usd: Decimal | None  # None before the first round
    unpriced: list[str]
    round: PfundWalletRound | None
    rounds: list[PfundWalletRound]
    daily: list[tuple[date, dict[str, Decimal]]] = field(default_factory=list)  # closing balance per day

    @property
    def wallets_cover_ledger(self) -> bool | None:
        """Whether the latest round's verified wallets hold at least the ledger's balance at its snapshot."""
        if self.round is None:
            return None
        held = {k: Decimal(v) for k, v in self.round.wallet_balances.items()}
        return all(held.get(c, Decimal(0)) >= Decimal(b) for c, b in self.round.ledger_balances.items())


def prices_of(record: PfundWalletRound | None) -> dict[str, Decimal]:
    return {} if record is None else {k: Decimal(v) for k, v in record.prices.items()}


def daily_balances(session: Session, start: datetime | None = None) -> list[tuple[date, dict[str, Decimal]]]:
    """The fund's closing balance per currency on each day with a booking (carried forward across
    currencies), from the ledger."""
    q = select(PfundEntry.ts, PfundEntry.ccy, PfundEntry.balance).order_by(PfundEntry.ts, PfundEntry.id)
    if start is not None:
        opening = ledger.balances(session, start)
        q = q.where(PfundEntry.ts > start)
    else:
        opening = {}
    current = dict(opening)
    days: dict[date, dict[str, Decimal]] = {}
    for ts, ccy, bal in session.execute(q):
        current[ccy] = bal
        days[ts.date()] = dict(current)
    return sorted(days.items())


def fund_size(session: Session) -> FundSize:
    record = wallets.latest_round(session)
    prices = prices_of(record)
    bal = ledger.balances(session)
    total = wallets.usd(bal, prices) if record is not None else None
    return FundSize(
        bal, prices, total, wallets.unpriced(bal, prices), record, wallets.rounds(session), daily_balances(session)
    )
