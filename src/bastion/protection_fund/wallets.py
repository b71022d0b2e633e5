"""The fund's wallets, proven each proof-of-reserves round exactly as reserve wallets are.

The wallet set has the reserves' format (chain, asset, address, balance, snapshot_height, message,
signature, pubkey_or_script) and is checked by `bastion.por.reserves.verify.verify_wallet_set` against the
round: an ownership signature over the round's challenge, the snapshot height, the round's assets. On top,
the fund is segregated: an address that is also one of the round's reserve wallets (`reserves.json`) is
refused, so one coin never counts both as a user's reserve and as the fund's.

What is recorded per round: each wallet and whether it verified, the failures with their reasons, the
round's prices, the verified wallet total per asset, and the ledger's balances at the snapshot time, so
the page can show both and whether the wallets cover the ledger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.por.format.amounts import fmt_amount
from bastion.por.reserves.evm import EVM_CHAINS
from bastion.por.reserves.report import RESERVES_FILE, failure_record, wallet_record
from bastion.por.reserves.round_view import Round
from bastion.por.reserves.verify import Verification, normalize_address, verify_wallet_set
from bastion.por.reserves.walletset import WalletSet
from bastion.protection_fund import ledger
from bastion.protection_fund.models import PfundWalletRound


def snapshot_datetime(rnd: Round) -> datetime:
    return datetime.fromisoformat(rnd.snapshot_time[:-1] + "+00:00").astimezone(UTC)


def reserve_registry(round_dir: Path | None, rnd: Round) -> dict[tuple[str, str], tuple[str, str]]:
    """The round's reserve wallets as a registry the reserves verifier refuses: segregation."""
    if round_dir is None or not (round_dir / RESERVES_FILE).exists():
        return {}
    raw = json.loads((round_dir / RESERVES_FILE).read_text(encoding="utf-8"))
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for w in raw.get("wallets", []):
        chain, address = str(w.get("chain", "")), str(w.get("address", ""))
        try:
            normalized = normalize_address(chain, address)
        except ValueError:
            continue
        # The verifier keys its registry by chain family: an EVM address is one key on every EVM chain.
        family = "evm" if chain in EVM_CHAINS else chain
        out[(family, normalized)] = (f"{rnd.exchange} reserves", rnd.round_id)
    return out


@dataclass(frozen=True, slots=True)
class RoundResult:
    record: PfundWalletRound
    verification: Verification


def verify_round(
    session: Session, rnd: Round, wallet_set: WalletSet, now: datetime, round_dir: Path | None = None
) -> RoundResult:
    """Verify the fund's wallet set for `rnd` and record it (a new verification of the same round replaces the
    previous record: the operator fixed a row). The caller commits."""
    v = verify_wallet_set(rnd, wallet_set, registry=reserve_registry(round_dir or rnd.path, rnd))
    prices = {name: a.price_usd for name, a in rnd.assets.items()}
    wallet_totals = {a: b for a, b in v.reserves.items() if b}
    at = snapshot_datetime(rnd)
    book = ledger.balances(session, at)
    record = session.scalars(select(PfundWalletRound).where(PfundWalletRound.round_id == rnd.round_id)).one_or_none()
    if record is None:
        record = PfundWalletRound(round_id=rnd.round_id)
        session.add(record)
    record.exchange = rnd.exchange
    record.snapshot_time = at
    record.challenge = v.challenge
    record.wallet_set_sha256 = wallet_set.sha256
    record.status = "verified" if v.ok else "failed"
    record.prices = {k: fmt_amount(p) for k, p in prices.items()}
    record.wallets = [{**wallet_record(w), "verified": w.verified} for w in v.wallets]
    record.failures = [failure_record(f) for f in v.failures]
    record.wallet_balances = {k: fmt_amount(b) for k, b in sorted(wallet_totals.items())}
    record.ledger_balances = {k: fmt_amount(b) for k, b in book.items()}
    record.wallets_usd = usd(wallet_totals, prices)
    record.ledger_usd = usd(book, prices)
    record.recorded_at = now
    session.flush()
    return RoundResult(record, v)


def usd(amounts: dict[str, Decimal], prices: dict[str, Decimal]) -> Decimal:
    """Sum at the given prices; a currency without a price counts 0 (and `unpriced` names it)."""
    return sum((a * prices[c] for c, a in amounts.items() if c in prices), Decimal(0))


def unpriced(amounts: dict[str, Decimal], prices: dict[str, Any]) -> list[str]:
    return sorted(c for c, a in amounts.items() if a and c not in prices)


def latest_round(session: Session) -> PfundWalletRound | None:
    return session.scalars(select(PfundWalletRound).order_by(PfundWalletRound.snapshot_time.desc()).limit(1)).first()


def rounds(session: Session) -> list[PfundWalletRound]:
    return list(session.scalars(select(PfundWalletRound).order_by(PfundWalletRound.snapshot_time)))
