"""``bastion por verify ROUND_DIR``: check everything a round publishes, with one specific reason on failure.

Order: the formats, the circuit digest and parameters, the asset table (recomputed from the published
prices), the leaf list (hash, count, root), every batch proof against its slice of the leaf list and its
totals, and finally that the batches' totals add up to the published per-asset totals.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bastion.por import commit
from bastion.por.batch import batch_security, verify_batch
from bastion.por.progress import SilentProgress
from bastion.por.round_format import (
    LEAVES_FILE,
    RoundFormatError,
    asset_table,
    check_round_doc,
    known_circuit_digest,
    leaf_words_of,
    params_from_json,
    read_leaves,
    read_round,
    recombine,
    round_digest,
    statement_words,
    units_to_decimal,
)
from bastion.por.solvency_air import LIMBS
from bastion.stark.security import MIN_SECURITY_BITS
from bastion.stark.verifier import VerificationError


class _Reject(Exception):
    pass


_UINT = re.compile(r"(0|[1-9][0-9]*)")  # ASCII digits only (str.isdigit and int() also take other scripts)
_DECIMAL = re.compile(r"(-?)([0-9]+)(?:\.([0-9]*))?")


@dataclass
class AssetCheck:
    asset: str
    total_equity: str
    total_debt: str
    net_liabilities: str


@dataclass
class RoundVerdict:
    ok: bool
    reason: str | None
    round_id: str | None = None
    batches_verified: int = 0
    leaves: int = 0
    leaf_root: str | None = None
    security_bits: float | None = None  # the smallest union over batches, conjectured regime
    proven_security_bits: float | None = None  # the same, proven regime
    security_profile: str | None = None
    assets: list[AssetCheck] = field(default_factory=list)


def verify_round(round_dir: Path, *, allow_insecure_params: bool = False, progress: Any = None) -> RoundVerdict:
    verdict = RoundVerdict(ok=False, reason=None)
    try:
        _verify(Path(round_dir), allow_insecure_params, progress or SilentProgress(), verdict)
    except (_Reject, RoundFormatError) as exc:
        verdict.reason = str(exc)
        return verdict
    except Exception as exc:  # hostile files must end in a verdict, never in a crash
        verdict.reason = f"malformed round ({type(exc).__name__}: {exc})"
        return verdict
    verdict.ok = True
    return verdict


def _int_field(doc: Any, key: str, where: str) -> int:
    v = doc.get(key) if isinstance(doc, dict) else None
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Reject(f"{where}.{key}: expected an integer")
    return v


def _verify(round_dir: Path, allow_insecure: bool, progress: Any, verdict: RoundVerdict) -> None:
    doc = read_round(round_dir)
    check_round_doc(doc)  # every field bounded before any arithmetic on it
    verdict.round_id = str(doc.get("round_id"))
    digest = round_digest(doc)
    if "round_digest" in doc and doc["round_digest"] != digest.hex():
        raise _Reject("round.json: round_digest is not the digest of its exchange, round id, snapshot time and nonce")
    circuit = doc["circuit"]
    known = known_circuit_digest()
    if circuit.get("digest") != known:
        raise _Reject(
            f"round.json names circuit digest {circuit.get('digest')!r}, which this verifier does not know "
            f"(it knows {known}): refusing rather than trusting the file"
        )
    params = params_from_json(circuit.get("stark_params"), allow_insecure=allow_insecure)
    profile = circuit.get("security_profile", "conjectured")
    if profile not in ("conjectured", "proven"):
        raise _Reject("round.json: circuit.security_profile must be 'conjectured' or 'proven'")
    verdict.security_profile = profile
    table = asset_table(doc)
    symbols = [str(a.get("asset")) for a in doc["assets"]]
    if len(set(symbols)) != len(symbols):
        raise _Reject("round.json: an asset is listed twice")

    # the leaf list and its root
    leaves_doc = doc.get("leaves")
    if not isinstance(leaves_doc, dict):
        raise _Reject("round.json: leaves missing")
    path = round_dir / LEAVES_FILE
    if not path.exists():
        raise _Reject(f"{LEAVES_FILE} is missing")
    records, sha = read_leaves(path)
    if sha != leaves_doc.get("sha256"):
        raise _Reject(f"{LEAVES_FILE}: its SHA-256 is not the one round.json publishes")
    n_leaves = len(records) // commit.LEAF_BYTES
    if n_leaves != _int_field(leaves_doc, "count", "leaves"):
        raise _Reject(f"{LEAVES_FILE} holds {n_leaves} leaves, round.json says {leaves_doc.get('count')}")
    progress.start("tree", n_leaves + (1 << commit.tree_depth(n_leaves)) - 1)
    root = commit.build_tree(records, progress=lambda k: progress.advance("tree", k))[-1].hex()
    if root != leaves_doc.get("root"):
        raise _Reject("the leaf list does not hash to the published root (leaves.root)")
    verdict.leaves, verdict.leaf_root = n_leaves, root
    words = leaf_words_of(records)
    if (words >= np.uint64(commit.P)).any():
        # a word w < 2^32 - 1 has a second 64-bit encoding w + p: the same proven leaf under another root
        raise _Reject(f"{LEAVES_FILE}: leaf {int(np.argmax((words >= np.uint64(commit.P)).any(axis=1)))} holds a "
                      "word that is not a canonical field element (>= p)")

    # every batch proof against its slice of the leaf list
    batches = doc.get("batches")
    if not isinstance(batches, list) or not batches:
        raise _Reject("round.json: batches must be a non-empty list")
    totals_eq = [0] * len(table)
    totals_debt = [0] * len(table)
    at = 0
    progress.start("batches", len(batches))
    for i, b in enumerate(batches):
        where = f"batches[{i}]"
        if _int_field(b, "index", where) != i or _int_field(b, "leaf_start", where) != at:
            raise _Reject(f"{where}: batches must cover the leaf list in order, without gaps or overlaps")
        rows = _int_field(b, "rows", where)
        if rows <= 0 or at + rows > n_leaves:
            raise _Reject(f"{where}: rows out of range")
        file = b.get("file")
        if not isinstance(file, str) or "\x00" in file or not _inside(round_dir, file):
            raise _Reject(f"{where}: file must be a path inside the round directory")
        proof_path = round_dir / file
        if not proof_path.exists():
            raise _Reject(f"{where}: {file} is missing")
        proof = proof_path.read_bytes()
        if hashlib.sha256(proof).hexdigest() != b.get("sha256"):
            raise _Reject(f"{where}: {file} is not the file round.json publishes (SHA-256 differs)")
        eq_limbs, debt_limbs = _batch_totals(b, symbols, where)
        statement = statement_words(digest, i, at)
        try:
            verify_batch(proof, table, words[at : at + rows], eq_limbs, debt_limbs, statement, params)
        except VerificationError as exc:
            raise _Reject(f"{where}: the proof in {file} is rejected: {exc}") from None
        except ValueError as exc:
            raise _Reject(f"{where}: {exc}") from None
        # after the proof, whose refusal names the more specific fault (other parameters, a tampered byte)
        expect_security = batch_security(table, rows, params).to_json()
        if json.dumps(b.get("security"), sort_keys=True) != json.dumps(expect_security, sort_keys=True):
            raise _Reject(f"{where}.security: not the soundness count of this batch's shape and parameters "
                          "(recomputed by stark/security.py)")
        verdict.security_bits = min(verdict.security_bits or 1e9, expect_security["union_conjectured"])
        verdict.proven_security_bits = min(verdict.proven_security_bits or 1e9, expect_security["union_proven"])
        for a in range(len(table)):
            totals_eq[a] += recombine(eq_limbs[a])
            totals_debt[a] += recombine(debt_limbs[a])
        at += rows
        verdict.batches_verified += 1
        progress.advance("batches")
    if at != n_leaves:
        raise _Reject(f"the batches cover {at} of the {n_leaves} leaves")
    # the STARK verifier refused any proof below 100 bits (conjectured); a round claiming the proven regime
    # must reach it there too
    if profile == "proven" and (verdict.proven_security_bits or 0) < MIN_SECURITY_BITS and not allow_insecure:
        raise _Reject(f"round.json claims the proven security profile but its batches give "
                      f"{verdict.proven_security_bits} proven bits, below {MIN_SECURITY_BITS}")

    # the published totals are the proven ones
    for a, asset in enumerate(doc["assets"]):
        dec = int(asset["decimals"])
        expect = {
            "total_equity": units_to_decimal(totals_eq[a], dec),
            "total_debt": units_to_decimal(totals_debt[a], dec),
            "net_liabilities": units_to_decimal(totals_eq[a] - totals_debt[a], dec),
        }
        for key, value in expect.items():
            if _canonical(asset.get(key), dec) != value:
                raise _Reject(
                    f"assets[{a}] ({asset.get('asset')}): {key} is published as {asset.get(key)!r} but the proofs "
                    f"sum to {value}"
                )
        for key, units in (("total_equity_units", totals_eq[a]), ("total_debt_units", totals_debt[a])):
            if key in asset and str(asset[key]) != str(units):
                raise _Reject(f"assets[{a}] ({asset.get('asset')}): {key} differs from the proven total {units}")
        verdict.assets.append(AssetCheck(str(asset["asset"]), *expect.values()))


def _inside(round_dir: Path, file: str) -> bool:
    return (round_dir / file).resolve().is_relative_to(round_dir.resolve())


def _canonical(text: Any, decimals: int) -> str | None:
    """A published decimal string re-rendered at full precision (so '1.50' and '1.5' compare equal)."""
    m = _DECIMAL.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        return None
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    if len(frac.rstrip("0")) > decimals:
        return None
    units = int(whole) * 10**decimals + int((frac[:decimals] or "0").ljust(decimals, "0") or "0")
    return units_to_decimal(-units if sign else units, decimals)


def _batch_totals(b: Any, symbols: list[str], where: str) -> tuple[list[list[int]], list[list[int]]]:
    totals = b.get("totals")
    if not isinstance(totals, dict) or set(totals) != set(symbols):
        raise _Reject(f"{where}.totals: must list every asset of the round")
    eq, debt = [], []
    for sym in symbols:
        t = totals[sym]
        pair = []
        for key in ("equity_limbs", "debt_limbs"):
            limbs = t.get(key) if isinstance(t, dict) else None
            if not isinstance(limbs, list) or len(limbs) != LIMBS:
                raise _Reject(f"{where}.totals.{sym}.{key}: expected {LIMBS} limb totals")
            values = [v for v in map(_limb_total, limbs) if v is not None]
            if len(values) != LIMBS:
                raise _Reject(f"{where}.totals.{sym}.{key}: limb totals must be integers (or decimal strings)")
            if any(not 0 <= v < 1 << 48 for v in values):
                raise _Reject(f"{where}.totals.{sym}.{key}: limb totals must be in [0, 2^48)")
            pair.append(values)
        eq.append(pair[0])
        debt.append(pair[1])
    return eq, debt


def _limb_total(v: Any) -> int | None:
    """A published limb total: a JSON integer or a string of ASCII digits (no floats, no other scripts)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and _UINT.fullmatch(v):
        return int(v)
    return None
