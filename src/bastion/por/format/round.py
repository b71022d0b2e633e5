"""round.json and the round directory's names (``docs/spec/round-format.md``): the only module that reads or
writes round.json, shared by the prover, both verifiers, the reserves side, the report and the web service.

Here: the format's name and file names (defined once), reading round.json (`load_round_json` gives the JSON
as written, `read_round` also checks its format), writing it (`write_round`), the bounds on a hostile file
(`check_round_doc`), and what both the prover and the verifier derive from the published identity: the
statement words a batch proof is bound to and the STARK parameters a round may name. Light on purpose (no
numpy, no numba, no circuit): the reserves side and ``bastion por verify-user`` import it. What needs the
circuit (its digest, the asset table) is ``bastion.por.liabilities.circuit.published``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from bastion.por.format.amounts import AMOUNT
from bastion.por.format.leaves import LEAVES_FILE, P
from bastion.por.format.leaves import RoundFormatError as RoundFormatError  # raised by both; defined once there
from bastion.stark.uni.params import StarkParams

ROUND_FORMAT = "bastion-round/3"
# Formats this verifier refuses by name, with the reason (docs/spec/round-format.md, "Versions").
REFUSED_FORMATS = {
    "bastion-round/2": (
        "it publishes per-batch amounts (every batch's per-asset limb totals), which show co-holders of an asset "
        "in a batch each other's balances; re-prove the round with this version"
    ),
    "bastion-round/1": (
        "its batch statements joined round id and nonce without length prefixes and kept only 112 bits of "
        "their hash, so two different rounds could share a statement; re-prove the round with this version"
    ),
}
ROUND_FILE = "round.json"
USER_PROOF_FORMAT = "bastion-user-proof/1"  # users/<uid>.json: one user's inclusion proof
BATCH_DIR = "batches"
AGGREGATE_FILE = "aggregate.proof"  # the aggregation proof: committed batch totals add up to the published ones
PRIVATE_DIR = "private"
USERS_DIR = "users"


class RoundFileError(RoundFormatError):
    """round.json cannot be read as JSON: `missing` when there is no such file; `cause` is the underlying
    error (each caller words its own message from it)."""

    def __init__(self, message: str, cause: Exception, *, missing: bool) -> None:
        super().__init__(message)
        self.cause = cause
        self.missing = missing


def batch_file(index: int) -> str:
    return f"{BATCH_DIR}/batch-{index:05d}.proof"


def commitment_hex(words: list[int]) -> str:
    """A batch's totals commitment (4 field elements) as 64 hex: the words as u64 little-endian, like a leaf."""
    return b"".join(int(w).to_bytes(8, "little") for w in words).hex()


def commitment_words(text: str) -> list[int]:
    """The 4 words of a published commitment; ValueError unless 64 hex of 4 canonical field elements (a word
    w + p would be the same field element as w: two encodings of one commitment)."""
    if not isinstance(text, str) or _HEX32.fullmatch(text) is None:
        raise ValueError("a totals commitment is 64 lowercase hex")
    raw = bytes.fromhex(text)
    words = [int.from_bytes(raw[8 * k : 8 * k + 8], "little") for k in range(4)]
    if any(w >= P for w in words):
        raise ValueError("a totals commitment word is not a canonical field element (>= p)")
    return words


ROUND_DIGEST_DOMAIN = b"bastion-round-statement/2"
ROUND_DIGEST_FIELDS = ("exchange", "round_id", "snapshot_time", "nonce")
STATEMENT_DIGEST_WORDS = 5  # 4 x 56 + 32 bits: the 256-bit digest, split without loss


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def round_digest(fields: dict[str, Any]) -> bytes:
    """SHA-256 of the round's identity: the domain, then exchange, round id, snapshot time and nonce, each
    UTF-8 and length-prefixed (u32 big-endian), so no two different rounds encode alike."""
    h = hashlib.sha256(_frame(ROUND_DIGEST_DOMAIN))
    for key in ROUND_DIGEST_FIELDS:
        h.update(_frame(str(fields[key]).encode("utf-8")))
    return h.digest()


def digest_words(digest: bytes) -> list[int]:
    """The round digest as 5 field words (4 x 56 + 32 bits, without loss): the aggregation proof's statement
    and the first 5 words of every batch statement."""
    if len(digest) != 32:
        raise ValueError("the round digest must be 32 bytes")
    d = int.from_bytes(digest, "little")
    return [(d >> (56 * k)) & ((1 << 56) - 1) for k in range(4)] + [d >> 224]


def statement_words(digest: bytes, batch_index: int, leaf_start: int) -> list[int]:
    """Public words binding a batch proof to its round (all 256 bits of ``round_digest``, as four 56-bit words
    and one 32-bit word, each below p so the field keeps them distinct) and to its place in the leaf list."""
    return [*digest_words(digest), batch_index, leaf_start]


PARAM_FIELDS = ("log_blowup", "num_queries", "grinding_bits", "log_final_degree", "salt_bytes")


def params_to_json(params: StarkParams) -> dict[str, Any]:
    return {k: getattr(params, k) for k in PARAM_FIELDS}


def params_from_json(doc: Any, *, allow_insecure: bool) -> StarkParams:
    """The round's STARK parameters. Their security is not judged here but by the STARK verifier, from each
    proof's real shape (stark/security.py), for every proof; ``allow_insecure`` (``--allow-insecure-params``,
    tests only) lets proofs below 100 bits through."""
    if not isinstance(doc, dict) or set(doc) != set(PARAM_FIELDS):
        raise RoundFormatError(f"{ROUND_FILE}: circuit.stark_params must hold exactly {', '.join(PARAM_FIELDS)}")
    try:
        params = StarkParams(**{k: int(doc[k]) for k in PARAM_FIELDS}, allow_insecure=allow_insecure)
        params.validate()
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise RoundFormatError(f"{ROUND_FILE}: circuit.stark_params: {exc}") from None
    return params


def write_json_atomic(path: Path, doc: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def round_path(round_dir: Path) -> Path:
    """Where a round directory's round.json is."""
    return Path(round_dir) / ROUND_FILE


def has_round(round_dir: Path) -> bool:
    """Whether `round_dir` holds a round.json (a round directory)."""
    return round_path(round_dir).is_file()


def locate_round(round_dir_or_file: Path) -> Path:
    """round.json of a round directory, or the file itself when the argument names one (``--round x.json``)."""
    path = Path(round_dir_or_file)
    return path / ROUND_FILE if path.is_dir() or not path.suffix else path


def load_round_json(round_dir_or_file: Path) -> Any:
    """round.json's JSON as written, unchecked: the one place it is parsed (`locate_round` says which file).
    RoundFileError when it is missing or is not UTF-8 JSON."""
    return _parse(locate_round(round_dir_or_file))


def _parse(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RoundFileError(f"{path}: not found (is this a round directory?)", exc, missing=True) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RoundFileError(f"{path}: not readable: {exc}", exc, missing=False) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RoundFileError(f"{path}: not valid JSON: {exc}", exc, missing=False) from None


def read_round(round_dir: Path) -> dict[str, Any]:
    """round.json checked to be a JSON object of this format (the fields themselves: `check_round_doc`)."""
    path = round_path(round_dir)
    if not path.exists():
        raise RoundFormatError(f"{path}: not found (is this a round directory?)")
    doc = _parse(path)
    if not isinstance(doc, dict):
        raise RoundFormatError(f"{path}: expected a JSON object")
    fmt = doc.get("format")
    if isinstance(fmt, str) and fmt in REFUSED_FORMATS:
        raise RoundFormatError(f"{path}: format {fmt} is refused: {REFUSED_FORMATS[fmt]} (this verifier reads "
                               f"{ROUND_FORMAT})")
    if fmt != ROUND_FORMAT:
        raise RoundFormatError(f"{path}: unknown format {_short(fmt)} (this verifier reads {ROUND_FORMAT})")
    return doc


def write_round(round_dir: Path, doc: dict[str, Any]) -> None:
    """Publish round.json (atomically: a reader sees the old file or the new one)."""
    write_json_atomic(round_path(round_dir), doc)


# --------------------------------------------------------------------------------------------------
# bounds on a hostile round.json, checked before any arithmetic

MAX_TEXT = 256  # exchange, round id, snapshot time, prover version, file names
MAX_ASSETS = 4096
MAX_DECIMALS = 30
MAX_NUMBER_DIGITS = 40  # digits in a published price, haircut or total (totals < 2^104: 32 digits)
MAX_EXPONENT = 40  # |exponent| in a price or haircut written with one (Decimal's str may use "1E-7")
MAX_COUNT = 1 << 40  # leaves, rows, users
MAX_BATCHES = 1 << 20
MAX_CHAINS = 64
_HEX32 = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[0-9a-f]{32}")
_PRICE = re.compile(r"([0-9]{1,40})(?:\.([0-9]{1,40}))?(?:[eE]([+-]?[0-9]{1,3}))?")
_DIGITS = re.compile(r"0|[1-9][0-9]{0,39}")


def _short(value: Any) -> str:
    """A hostile value for an error message: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _need(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise RoundFormatError(f"{ROUND_FILE}: {where}: {what}")


def _text(obj: dict[str, Any], key: str, where: str, *, pattern: re.Pattern[str] | None = None,
          limit: int = MAX_TEXT) -> str:
    v: Any = obj.get(key)
    _need(isinstance(v, str) and 0 < len(v) <= limit, f"{where}{key}",
          f"must be a string of 1 to {limit} characters, got {_short(v)}")
    if pattern is not None:
        _need(pattern.fullmatch(v) is not None, f"{where}{key}", f"malformed: {_short(v)}")
    return str(v)


def _int(obj: dict[str, Any], key: str, where: str, lo: int, hi: int) -> int:
    v: Any = obj.get(key)
    _need(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi, f"{where}{key}",
          f"must be an integer in [{lo}, {hi}], got {_short(v)}")
    return int(v)


def _number(obj: dict[str, Any], key: str, where: str, *, signed: bool = False) -> str:
    """A price or haircut: ASCII digits, an optional fraction and an optional exponent, all bounded, so that
    ``Decimal`` and ``Fraction`` of it stay small (``1e-999999999`` would cost minutes in 10**exponent)."""
    v = _text(obj, key, where, limit=2 * MAX_NUMBER_DIGITS + 8)
    m = _PRICE.fullmatch(v)
    _need(m is not None, f"{where}{key}", f"must be a decimal number (e.g. 64250.5), got {_short(v)}")
    assert m is not None
    _need(m.group(3) is None or abs(int(m.group(3))) <= MAX_EXPONENT, f"{where}{key}",
          f"exponent out of [-{MAX_EXPONENT}, {MAX_EXPONENT}]: {_short(v)}")
    return v


def _amount(obj: dict[str, Any], key: str, where: str) -> str:
    """A published total: the one amount grammar (signed: net liabilities can be negative), at most
    MAX_NUMBER_DIGITS digits on either side of the dot."""
    v = _text(obj, key, where, limit=2 * MAX_NUMBER_DIGITS + 2)
    m = AMOUNT.fullmatch(v)
    _need(m is not None and len(m.group(2)) <= MAX_NUMBER_DIGITS and len(m.group(3) or "") <= MAX_NUMBER_DIGITS,
          f"{where}{key}", f"malformed: {_short(v)}")
    return v


def check_round_doc(doc: dict[str, Any]) -> None:
    """Bound every field of a round.json the verifier reads, before any arithmetic on it: types, string
    lengths, integer ranges, the digits and exponents of every number, list lengths. A hostile file ends
    here with the field named, in time proportional to its size."""
    _text(doc, "exchange", "")
    _text(doc, "round_id", "", pattern=re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"))
    _text(doc, "snapshot_time", "")
    _text(doc, "nonce", "", pattern=_NONCE)
    if "round_digest" in doc:
        _text(doc, "round_digest", "", pattern=_HEX32)
    heights: Any = doc.get("block_heights", {})
    _need(isinstance(heights, dict) and len(heights) <= MAX_CHAINS, "block_heights",
          f"must be an object of at most {MAX_CHAINS} chains")
    for chain in heights:
        _need(isinstance(chain, str) and 0 < len(chain) <= 64, "block_heights", f"bad chain name {_short(chain)}")
        _int(heights, chain, "block_heights.", 0, (1 << 63) - 1)
    if "prover_version" in doc:
        _text(doc, "prover_version", "")
    circuit: Any = doc.get("circuit")
    _need(isinstance(circuit, dict), "circuit", "must be an object")
    _text(circuit, "name", "circuit.")
    _text(circuit, "digest", "circuit.", pattern=re.compile(r"[0-9a-f]{1,128}"))
    if "security_profile" in circuit:
        _text(circuit, "security_profile", "circuit.", pattern=re.compile(r"conjectured|proven"))
    sp: Any = circuit.get("stark_params")
    _need(isinstance(sp, dict) and 0 < len(sp) <= 16, "circuit.stark_params", "must be an object of parameters")
    for key in sp:
        _need(isinstance(key, str) and len(key) <= 64, "circuit.stark_params", f"bad key {_short(key)}")
        _int(sp, key, "circuit.stark_params.", 0, 1 << 16)
    for key in ("users", "rows"):
        if key in doc:
            _int(doc, key, "", 0, MAX_COUNT)

    assets: Any = doc.get("assets")
    _need(isinstance(assets, list) and 0 < len(assets) <= MAX_ASSETS, "assets",
          f"must be a list of 1 to {MAX_ASSETS} assets")
    for i, a in enumerate(assets):
        where = f"assets[{i}]."
        _need(isinstance(a, dict), f"assets[{i}]", "must be an object")
        _int(a, "index", where, i, i)
        _text(a, "asset", where, limit=64)
        _int(a, "decimals", where, 0, MAX_DECIMALS)
        _number(a, "price_usd", where)
        _number(a, "haircut", where)
        _int(a, "amount_bits", where, 0, 64)
        for key in ("total_equity", "total_debt", "net_liabilities"):
            _amount(a, key, where)
        for key in ("total_equity_units", "total_debt_units"):
            if key in a:
                _text(a, key, where, pattern=_DIGITS)

    leaves: Any = doc.get("leaves")
    _need(isinstance(leaves, dict), "leaves", "must be an object")
    _need(leaves.get("file") == LEAVES_FILE, "leaves.file",
          f"must be {LEAVES_FILE!r}, got {_short(leaves.get('file'))}")
    _int(leaves, "count", "leaves.", 1, MAX_COUNT)
    _text(leaves, "sha256", "leaves.", pattern=_HEX32)
    _text(leaves, "root", "leaves.", pattern=_HEX32)

    batches: Any = doc.get("batches")
    _need(isinstance(batches, list) and 0 < len(batches) <= MAX_BATCHES, "batches",
          f"must be a list of 1 to {MAX_BATCHES} batches")
    for i, b in enumerate(batches):
        where = f"batches[{i}]."
        _need(isinstance(b, dict), f"batches[{i}]", "must be an object")
        _int(b, "index", where, i, i)
        _int(b, "leaf_start", where, 0, MAX_COUNT)
        _int(b, "rows", where, 1, MAX_COUNT)
        _text(b, "file", where)
        _text(b, "sha256", where, pattern=_HEX32)
        security: Any = b.get("security")
        _need(isinstance(security, dict) and len(security) <= 16, f"batches[{i}].security",
              "must be the batch's soundness count (an object)")
        # version 3 publishes no per-batch amount: a batch's totals are only its hiding commitment
        _need("totals" not in b, f"batches[{i}].totals", "per-batch totals are not part of bastion-round/3")
        c = _text(b, "totals_commitment", where, pattern=_HEX32)
        try:
            commitment_words(c)
        except ValueError as exc:
            _need(False, f"{where}totals_commitment", str(exc))

    agg: Any = doc.get("aggregate")
    _need(isinstance(agg, dict), "aggregate", "must be the aggregation proof's record (an object)")
    _need(agg.get("file") == AGGREGATE_FILE, "aggregate.file",
          f"must be {AGGREGATE_FILE!r}, got {_short(agg.get('file'))}")
    _text(agg, "sha256", "aggregate.", pattern=_HEX32)
    agg_circuit: Any = agg.get("circuit")
    _need(isinstance(agg_circuit, dict), "aggregate.circuit", "must be an object")
    _text(agg_circuit, "name", "aggregate.circuit.")
    _text(agg_circuit, "digest", "aggregate.circuit.", pattern=re.compile(r"[0-9a-f]{1,128}"))
    agg_security: Any = agg.get("security")
    _need(isinstance(agg_security, dict) and len(agg_security) <= 16, "aggregate.security",
          "must be the aggregation proof's soundness count (an object)")
