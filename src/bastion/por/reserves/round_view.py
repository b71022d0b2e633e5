"""The reserves side's view of a round: the liabilities the reserves are checked against, read from
`ROUND_DIR/round.json` through `bastion.por.format.round` (the one reader of that file).

Only the keys the reserves side needs are read (exchange, round id, snapshot time, nonce, block heights and
the per-asset liabilities); the liabilities pipeline may write more, which is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bastion.por.format.amounts import parse_amount
from bastion.por.format.round import ROUND_FORMAT, RoundFileError, load_round_json, locate_round
from bastion.por.reserves.errors import ReservesInputError

_NONCE = re.compile(r"[0-9a-f]{32}")
_ROUND_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class AssetLiability:
    asset: str
    decimals: int
    price_usd: Decimal
    total_equity: Decimal
    total_debt: Decimal
    net_liabilities: Decimal


@dataclass(frozen=True, slots=True)
class Round:
    exchange: str
    round_id: str
    snapshot_time: str  # kept verbatim: it is part of the signed challenge
    nonce: str
    block_heights: dict[str, int]
    assets: dict[str, AssetLiability]
    path: Path | None = None

    def asset(self, name: str) -> AssetLiability | None:
        return self.assets.get(name)


def load_round(round_dir: Path) -> Round:
    """Read and validate `round_dir/round.json`; ReservesInputError naming the field on any problem."""
    path = locate_round(round_dir)
    name = str(path)
    try:
        raw = load_round_json(path)
    except RoundFileError as exc:
        message = "file not found" if exc.missing else f"not readable JSON: {exc.cause}"
        raise ReservesInputError(name, [(None, "round.json", message)]) from None
    result = parse_round(raw, name)
    return replace(result, path=path.parent)


def parse_round(raw: Any, name: str = "round.json") -> Round:
    problems: list[tuple[int | None, str, str]] = []

    def bad(field: str, message: str) -> None:
        problems.append((None, field, message))

    if not isinstance(raw, dict):
        raise ReservesInputError(name, [(None, "round.json", "top level must be an object")])
    if raw.get("format") != ROUND_FORMAT:
        bad("format", f"expected {ROUND_FORMAT!r}, got {raw.get('format')!r}")
    exchange = raw.get("exchange")
    if not isinstance(exchange, str) or not exchange.strip() or not exchange.isprintable():
        bad("exchange", "must be a non-empty printable string")
    round_id = raw.get("round_id")
    if not isinstance(round_id, str) or not _ROUND_ID.fullmatch(round_id):
        bad("round_id", "must be 1-64 characters of letters, digits, '.', '_' or '-'")
    snapshot = raw.get("snapshot_time")
    if not isinstance(snapshot, str) or not snapshot.endswith("Z"):
        bad("snapshot_time", "must be an ISO-8601 UTC time ending in 'Z'")
    else:
        try:
            datetime.fromisoformat(snapshot[:-1] + "+00:00")
        except ValueError:
            bad("snapshot_time", f"not an ISO-8601 time: {snapshot!r}")
    nonce = raw.get("nonce")
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        bad("nonce", "must be 32 lowercase hex characters")
    heights_raw = raw.get("block_heights", {})
    heights: dict[str, int] = {}
    if not isinstance(heights_raw, dict):
        bad("block_heights", "must be an object of chain -> height")
    else:
        for chain, h in heights_raw.items():
            if not isinstance(h, int) or isinstance(h, bool) or h < 0:
                bad(f"block_heights.{chain}", "must be a non-negative integer")
            else:
                heights[str(chain)] = h
    assets: dict[str, AssetLiability] = {}
    assets_raw = raw.get("assets")
    if not isinstance(assets_raw, list) or not assets_raw:
        bad("assets", "must be a non-empty list")
        assets_raw = []
    for i, entry in enumerate(assets_raw):
        where = f"assets[{i}]"
        if not isinstance(entry, dict):
            bad(where, "must be an object")
            continue
        asset = entry.get("asset")
        if not isinstance(asset, str) or not asset:
            bad(f"{where}.asset", "must be a non-empty string")
            continue
        if asset in assets:
            bad(f"{where}.asset", f"duplicate asset {asset}")
            continue
        decimals = entry.get("decimals")
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 30:
            bad(f"{where}.decimals", "must be an integer from 0 to 30")
            continue
        values: dict[str, Decimal] = {}
        for key in ("price_usd", "total_equity", "total_debt", "net_liabilities"):
            text = entry.get(key)
            if not isinstance(text, str):
                bad(f"{where}.{key}", "must be a decimal string")
                continue
            try:
                values[key] = parse_amount(text, None if key == "price_usd" else decimals)
            except ValueError as exc:
                bad(f"{where}.{key}", str(exc))
        if len(values) == 4:
            assets[asset] = AssetLiability(asset=asset, decimals=decimals, **values)
    if problems:
        raise ReservesInputError(name, problems)
    assert isinstance(exchange, str) and isinstance(round_id, str)
    assert isinstance(snapshot, str) and isinstance(nonce, str)
    return Round(exchange, round_id, snapshot, nonce, heights, assets)
