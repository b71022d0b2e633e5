"""A user's inclusion proof (``bastion-user-proof/1``): checking one, with a specific reason when it fails.

Lean on purpose (hashlib, json and the Poseidon2 reference only): ``bastion por verify-user`` runs cold in
well under a second. Making proofs needs the round's private data and lives in
``bastion.por.liabilities.user_proofs`` (which never imports this module).
The checks, in order, are those of ``docs/spec/round-format.md``; the web page's JavaScript runs the same.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.por.format import leaves as leaf_format
from bastion.por.format.amounts import format_units, units_or_none
from bastion.por.format.round import USER_PROOF_FORMAT

FORMAT = USER_PROOF_FORMAT
_HEX32 = re.compile(r"^[0-9a-f]{64}$")
_UINT = re.compile(r"^(0|[1-9][0-9]*)$")


@dataclass(frozen=True)
class RowView:
    asset: str
    equity: str
    debt: str
    leaf_index: int
    leaf: str


@dataclass
class UserVerdict:
    ok: bool
    reason: str | None
    uid: str | None = None
    round_id: str | None = None
    leaf_root: str | None = None
    rows: list[RowView] = field(default_factory=list)


class _Reject(Exception):
    pass


def decimal_to_units(text: str, decimals: int) -> int | None:
    """Exact base units of a decimal string, or None when the amount grammar refuses it (malformed, signed, or
    more than `decimals` non-zero fraction digits)."""
    return units_or_none(text, decimals)


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise _Reject(f"{where}: missing field {key!r}")
    value = obj[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise _Reject(f"{where}.{key}: expected an integer")
    if kind is not int and not isinstance(value, kind):
        raise _Reject(f"{where}.{key}: expected {kind.__name__}")
    return value


def _uint(obj: Any, key: str, where: str, bound: int) -> int:
    text = _get(obj, key, str, where)
    if not _UINT.match(text) or int(text) >= bound:
        raise _Reject(f"{where}.{key}: not an integer below {bound}")
    return int(text)


def _hex32(obj: Any, key: str, where: str) -> bytes:
    text = _get(obj, key, str, where)
    if not _HEX32.match(text):
        raise _Reject(f"{where}.{key}: expected 64 lowercase hex characters")
    return bytes.fromhex(text)


def verify_user_proof(doc: Any, round_doc: dict[str, Any] | None = None) -> UserVerdict:
    """Check a parsed proof file; with ``round_doc`` (round.json) also that it belongs to that round."""
    verdict = UserVerdict(ok=False, reason=None)
    try:
        _verify(doc, round_doc, verdict)
    except _Reject as exc:
        verdict.ok = False
        verdict.reason = str(exc)
        return verdict
    verdict.ok = True
    return verdict


def _verify(doc: Any, round_doc: dict[str, Any] | None, verdict: UserVerdict) -> None:
    if not isinstance(doc, dict):
        raise _Reject("the file is not a JSON object")
    fmt = doc.get("format")
    if fmt != FORMAT:
        raise _Reject(f"unknown format {fmt!r} (this verifier reads {FORMAT})")
    rnd = _get(doc, "round", dict, "proof")
    round_id = _get(rnd, "round_id", str, "round")
    root = _hex32(rnd, "leaf_root", "round")
    n_leaves = _get(rnd, "leaf_count", int, "round")
    if not 1 <= n_leaves < 1 << 40:
        raise _Reject("round.leaf_count out of range")
    uid = _get(doc, "uid", str, "proof")
    salt = _hex32(doc, "user_salt", "proof")
    verdict.uid, verdict.round_id, verdict.leaf_root = uid, round_id, root.hex()
    rows = _get(doc, "rows", list, "proof")
    if not rows:
        raise _Reject("the proof lists no rows")

    # 1. the id only this user can recompute
    uid_words = leaf_format.user_id(round_id, uid, salt)

    # 2. each row: amounts, leaf, path
    depth = leaf_format.tree_depth(n_leaves)
    parsed = []
    for r, row in enumerate(rows):
        where = f"rows[{r}]"
        asset = _get(row, "asset", str, where)
        asset_index = _get(row, "asset_index", int, where)
        decimals = _get(row, "decimals", int, where)
        if not 0 <= decimals <= 30:
            raise _Reject(f"{where}.decimals out of range")
        idx = _get(row, "idx", int, where)
        count = _get(row, "count", int, where)
        equity_units = _uint(row, "equity_units", where, 1 << 63)
        debt_units = _uint(row, "debt_units", where, 1 << 63)
        for name, units in (("equity", equity_units), ("debt", debt_units)):
            shown = _get(row, name, str, where)
            if decimal_to_units(shown, decimals) != units:
                raise _Reject(f"{where}.{name}: {shown!r} is not {name}_units at {decimals} decimals")
        salt_word = _uint(row, "salt", where, leaf_format.P)
        leaf_index = _get(row, "leaf_index", int, where)
        leaf = _hex32(row, "leaf", where)
        path_hex = _get(row, "path", list, where)
        if len(path_hex) != depth or not all(isinstance(h, str) and _HEX32.match(h) for h in path_hex):
            raise _Reject(f"{where}.path: expected {depth} hashes of 64 hex characters")
        try:
            packed = leaf_format.pack(asset_index, idx, count)
        except ValueError as exc:
            raise _Reject(f"{where}: {exc}") from None
        words = leaf_format.leaf_words(uid_words, packed, equity_units, debt_units, salt_word)
        computed = leaf_format.words_to_bytes(words)
        if computed != leaf:
            raise _Reject(
                f"{where} ({asset}): the leaf does not match the row's values, id and salt "
                f"(recomputed {computed.hex()[:16]}..., file says {leaf.hex()[:16]}...)"
            )
        if not leaf_format.verify_path(leaf, leaf_index, [bytes.fromhex(h) for h in path_hex], root, n_leaves):
            raise _Reject(f"{where} ({asset}): the Merkle path from leaf {leaf_index} does not lead to the root")
        parsed.append((idx, count, leaf_index))
        verdict.rows.append(RowView(asset, format_units(equity_units, decimals), format_units(debt_units, decimals),
                                    leaf_index, leaf.hex()))

    # 3. the user's whole block: count rows, idx 0..count-1 on consecutive leaves
    count = parsed[0][1]
    if len(parsed) != count:
        raise _Reject(f"the proof has {len(parsed)} rows but the leaves say the user has {count}")
    start = parsed[0][2] - parsed[0][0]
    for r, (idx, cnt, leaf_index) in enumerate(parsed):
        if cnt != count or idx != r or leaf_index != start + r:
            raise _Reject(f"rows[{r}]: rows must be idx 0..{count - 1} on consecutive leaves with one count")

    # 4. the round the proof claims is the round being checked
    if round_doc is not None:
        leaves_doc = round_doc.get("leaves")
        leaves: dict[str, Any] = leaves_doc if isinstance(leaves_doc, dict) else {}
        if round_doc.get("round_id") != round_id:
            raise _Reject(f"the proof is for round {round_id!r}, not {round_doc.get('round_id')!r}")
        if leaves.get("root") != root.hex():
            raise _Reject("the proof's leaf root is not the round's published root")
        if leaves.get("count") != n_leaves:
            raise _Reject("the proof's leaf count is not the round's")
        circuit = round_doc.get("circuit")
        digest = circuit.get("digest") if isinstance(circuit, dict) else None
        if rnd.get("circuit_digest") != digest:
            raise _Reject("the proof names another circuit digest than the round")
        # The leaf commits to the asset *index* only: the symbol and decimals the user is shown must be the
        # round's for that index, or a row of BTC could be summed (and valued) as another asset.
        assets = round_doc.get("assets")
        by_index = {a.get("index"): a for a in assets if isinstance(a, dict)} if isinstance(assets, list) else {}
        for r, row in enumerate(rows):
            a = by_index.get(row["asset_index"])
            if a is None:
                raise _Reject(f"rows[{r}]: asset_index {row['asset_index']} is not an asset of the round")
            if a.get("asset") != row["asset"] or a.get("decimals") != row["decimals"]:
                raise _Reject(
                    f"rows[{r}]: asset_index {row['asset_index']} is {a.get('asset')} with {a.get('decimals')} "
                    f"decimals in the round, the proof says {row['asset']} with {row['decimals']}"
                )


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
