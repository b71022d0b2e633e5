"""The reserves side's public files: the signed wallet set and the price table, beside reserves.json.

`bastion por reserves verify` (and the demo) put into the round directory, for `bastion serve` to publish:
- `wallets.csv` (or `wallets.parquet`): the wallet set exactly as verified, byte for byte, so anyone can
  re-check every row's address, message, signature, key or script, balance and height;
- `prices.json` (`bastion-prices/1`): the USD price and decimals of every asset at the snapshot, as
  round.json gives them (the exchange's prices; the report's USD totals use them);
and reserves.json lists both under `public_files` with their SHA-256, so a download can be checked
against what the verifier saw (`sha256sum wallets.csv`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from bastion.por.format.amounts import fmt_amount
from bastion.por.reserves.round_view import Round

PRICES_FORMAT = "bastion-prices/1"
PRICES_FILE = "prices.json"


def wallets_name(source: Path) -> str:
    return "wallets.parquet" if source.suffix.lower() in (".parquet", ".pq") else "wallets.csv"


def prices_record(rnd: Round) -> dict[str, Any]:
    return {
        "format": PRICES_FORMAT,
        "exchange": rnd.exchange,
        "round_id": rnd.round_id,
        "snapshot_time": rnd.snapshot_time,
        "source": "round.json price_usd: the exchange's USD price of each asset at the snapshot",
        "assets": {
            name: {"price_usd": fmt_amount(a.price_usd), "decimals": a.decimals} for name, a in rnd.assets.items()
        },
    }


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def publish_reserve_files(rnd: Round, wallet_set: Path, round_dir: Path) -> list[dict[str, str]]:
    """Copy the wallet set and write prices.json into `round_dir`; their `public_files` entries."""
    round_dir.mkdir(parents=True, exist_ok=True)
    target = round_dir / wallets_name(wallet_set)
    if not (target.exists() and target.resolve() == wallet_set.resolve()):
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(wallet_set, tmp)
        tmp.replace(target)
    prices = round_dir / PRICES_FILE
    tmp = prices.with_name(PRICES_FILE + ".tmp")
    tmp.write_text(json.dumps(prices_record(rnd), indent=2) + "\n", encoding="utf-8")
    tmp.replace(prices)
    return [
        {"file": target.name, "sha256": _sha256(target), "kind": "wallet set"},
        {"file": PRICES_FILE, "sha256": _sha256(prices), "kind": "prices"},
    ]
