"""What the verifier derives from a published round that needs the circuit itself: the asset table the
batch proofs are checked against (recomputed from round.json's decimals, prices and haircuts, never read from
the prover) and the digests of the circuits this code proves and verifies. The prover uses the same functions,
so it cannot prove against anything else.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bastion.por.format.round import ROUND_FILE, RoundFormatError
from bastion.por.liabilities.circuit.aggregate import AggregateAir
from bastion.por.liabilities.circuit.columns import LIMB_BITS, MIN_ROWS, AssetRow, asset_row
from bastion.por.liabilities.circuit.hidden import HiddenTotalsAir
from bastion.stark.air.air import circuit_digest


def known_circuit_digest() -> str:
    """The digest of the batch circuit this code proves and verifies (``bastion.por.solvency/2``, hidden
    totals; independent of batch data)."""
    dummy = HiddenTotalsAir([asset_row(8, "1", "1", 48)], np.zeros((4, MIN_ROWS), dtype=np.uint64), [0] * 4, [])
    return circuit_digest(dummy).hex()


def known_aggregate_digest() -> str:
    """The digest of the aggregation circuit (``bastion.por.aggregate/1``; independent of the numbers of batches
    and assets, which are public inputs)."""
    return circuit_digest(AggregateAir([[0] * 4], [0], [0], [])).hex()


def asset_table(round_doc: dict[str, Any]) -> list[AssetRow]:
    """The circuit's asset table, recomputed from the published assets (never read from the prover)."""
    assets = round_doc.get("assets")
    if not isinstance(assets, list) or not assets:
        raise RoundFormatError(f"{ROUND_FILE}: assets must be a non-empty list")
    table = []
    for i, a in enumerate(assets):
        where = f"{ROUND_FILE}: assets[{i}]"
        if not isinstance(a, dict) or a.get("index") != i:
            raise RoundFormatError(f"{where}: index must be {i}")
        try:
            table.append(asset_row(int(a["decimals"]), str(a["price_usd"]), str(a["haircut"]), int(a["amount_bits"])))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise RoundFormatError(f"{where} ({a.get('asset')}): {exc}") from None
    return table


def recombine(limb_totals: list[int]) -> int:
    return sum(int(v) << (LIMB_BITS * k) for k, v in enumerate(limb_totals))
