"""The round directory's public formats (``docs/spec/round-format.md``), shared by prover and verifier.

Everything the verifier derives from the published files lives here, so the prover cannot use anything
else: the asset table from the published decimals, prices and haircuts; the per-batch statement words;
the circuit digest this code knows; the STARK parameters a round may name.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bastion.por.solvency_air import LIMB_BITS, LIMBS, AssetRow, SolvencyAir, asset_row
from bastion.stark.air import circuit_digest
from bastion.stark.params import DEFAULT_PARAMS, StarkParams

ROUND_FORMAT = "bastion-round/1"
ROUND_FILE = "round.json"
LEAVES_FILE = "leaves.bin"
LEAVES_MAGIC = b"BLEAVES1"
BATCH_DIR = "batches"
PRIVATE_DIR = "private"
USERS_DIR = "users"
MIN_SECURITY_BITS = 100

U64 = NDArray[np.uint64]


class RoundFormatError(ValueError):
    """A round file is missing, malformed or of an unknown version; the message names the file and field."""


def batch_file(index: int) -> str:
    return f"{BATCH_DIR}/batch-{index:05d}.proof"


def known_circuit_digest() -> str:
    """The digest of the solvency circuit this code proves and verifies (independent of batch data)."""
    dummy = SolvencyAir(
        [asset_row(8, "1", "1", 48)],
        np.zeros((4, 1 << 16), dtype=np.uint64),
        np.zeros((1, LIMBS), dtype=object),
        np.zeros((1, LIMBS), dtype=object),
        [],
    )
    return circuit_digest(dummy).hex()


def statement_words(round_id: str, nonce: str, batch_index: int, leaf_start: int) -> list[int]:
    """Public words binding a batch proof to its round and its place in the leaf list."""
    h = hashlib.sha256(f"bastion-round-statement/1\x00{round_id}\x00{nonce}".encode()).digest()
    return [int.from_bytes(h[:7], "little"), int.from_bytes(h[7:14], "little"), batch_index, leaf_start]


def params_to_json(params: StarkParams) -> dict[str, Any]:
    return asdict(params)


def params_from_json(doc: Any, *, allow_insecure: bool) -> StarkParams:
    if not isinstance(doc, dict):
        raise RoundFormatError(f"{ROUND_FILE}: circuit.stark_params must be an object")
    try:
        params = StarkParams(**{k: int(v) for k, v in doc.items()})
        params.validate()
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise RoundFormatError(f"{ROUND_FILE}: circuit.stark_params: {exc}") from None
    if params != DEFAULT_PARAMS and not allow_insecure:
        bits = params.conjectured_security_bits(30, 3)
        if bits < MIN_SECURITY_BITS:
            raise RoundFormatError(
                f"{ROUND_FILE}: the round's STARK parameters give about {bits:.0f} bits of security, below "
                f"{MIN_SECURITY_BITS} (pass --allow-insecure-params only for tests)"
            )
    return params


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


def units_to_decimal(units: int, decimals: int) -> str:
    """Exact decimal string of base units, keeping the sign (net liabilities can be negative)."""
    sign = "-" if units < 0 else ""
    units = abs(units)
    if decimals == 0:
        return f"{sign}{units}"
    whole, frac = divmod(units, 10**decimals)
    return f"{sign}{whole}.{str(frac).rjust(decimals, '0')}"


def write_json_atomic(path: Path, doc: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_round(round_dir: Path) -> dict[str, Any]:
    path = Path(round_dir) / ROUND_FILE
    if not path.exists():
        raise RoundFormatError(f"{path}: not found (is this a round directory?)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RoundFormatError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RoundFormatError(f"{path}: expected a JSON object")
    if doc.get("format") != ROUND_FORMAT:
        raise RoundFormatError(f"{path}: unknown format {doc.get('format')!r} (this verifier reads {ROUND_FORMAT})")
    return doc


def write_leaves(path: Path, leaf_words: U64) -> str:
    """Write the leaf list; returns its SHA-256 (hex)."""
    words = np.ascontiguousarray(leaf_words, dtype="<u8")
    data = LEAVES_MAGIC + len(words).to_bytes(8, "little") + words.tobytes()
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def read_leaves(path: Path) -> tuple[bytes, str]:
    """(the leaves' 32-byte records concatenated, SHA-256 of the whole file)."""
    data = path.read_bytes()
    if len(data) < 16 or data[:8] != LEAVES_MAGIC:
        raise RoundFormatError(f"{path}: not a leaf list (bad magic)")
    count = int.from_bytes(data[8:16], "little")
    if len(data) != 16 + 32 * count:
        raise RoundFormatError(f"{path}: header says {count} leaves but the file holds {(len(data) - 16) / 32:g}")
    return data[16:], hashlib.sha256(data).hexdigest()


def leaf_words_of(records: bytes) -> U64:
    """(n, 4) words of leaf records."""
    return np.frombuffer(records, dtype="<u8").reshape(-1, 4).astype(np.uint64)
