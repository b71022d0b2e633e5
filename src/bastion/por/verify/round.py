"""``bastion por verify ROUND_DIR``: check everything a round publishes, with one specific reason on failure.

Order: the formats, the circuit digests and parameters, the asset table (recomputed from the published
prices), the published per-asset totals (net = equity - debt), the aggregation proof's file and header, the
round's shape against the files' sizes (batches tile ``leaves.bin``, each long enough for a batch proof, so the
aggregation's size is bounded by the leaf file's: docs/spec/round-format.md, "Bounds"), the aggregation proof
(the batches' committed totals add up to those totals, for this round's digest), the leaf list (hash, count,
root), and every batch
proof against its slice of the leaf list, its totals commitment and its statement. No batch's totals are
published (``bastion-round/3``): the aggregation proof is what ties the batch proofs to the published totals.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bastion.por.format import leaves as leaf_format
from bastion.por.format.amounts import units_or_none, units_to_decimal
from bastion.por.format.leaves import LEAVES_FILE, LEAVES_HEADER_BYTES, leaf_words_of
from bastion.por.format.round import (
    AGGREGATE_FILE,
    RoundFormatError,
    check_round_doc,
    commitment_words,
    digest_words,
    params_from_json,
    read_round,
    round_digest,
    statement_words,
)
from bastion.por.liabilities.circuit.aggregate import MAX_BATCHES, MAX_TOTAL, AggregateAir, aggregate_rows
from bastion.por.liabilities.circuit.aggregate import NAME as AGGREGATE_NAME
from bastion.por.liabilities.circuit.columns import MIN_ROWS
from bastion.por.liabilities.circuit.hidden import hidden_batch_security, verify_hidden_batch
from bastion.por.liabilities.circuit.published import asset_table, known_aggregate_digest, known_circuit_digest
from bastion.por.liabilities.circuit.totals_hash import PERIOD
from bastion.por.progress import SilentProgress
from bastion.stark.uni.proof import ProofFormatError, read_header
from bastion.stark.uni.security import MIN_SECURITY_BITS, report_for
from bastion.stark.uni.verifier import VerificationError, verify


class _Reject(Exception):
    pass




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
    security_bits: float | None = None  # the smallest union over the proofs (batches, aggregation), conjectured
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
    totals_eq, totals_debt, checks = _published_totals(doc)
    batches = doc.get("batches")
    if not isinstance(batches, list) or not batches:
        raise _Reject("round.json: batches must be a non-empty list")
    if len(batches) > MAX_BATCHES:
        raise _Reject(f"round.json: at most {MAX_BATCHES} batches (the aggregation's exactness bound)")
    commitments = []
    for i, b in enumerate(batches):
        try:
            commitments.append(commitment_words(str(b.get("totals_commitment")) if isinstance(b, dict) else ""))
        except ValueError as exc:
            raise _Reject(f"batches[{i}].totals_commitment: {exc}") from None

    # the aggregation proof's file, hash and header (cheap: its size), then the round's shape against the
    # files' sizes, then the aggregation itself, whose public columns (32 x batches x assets rows) the shape
    # check has bounded by the leaf count, that is by leaves.bin's size
    aggregate_proof = _aggregate_file(round_dir, doc, len(batches), len(table), params)
    path = round_dir / LEAVES_FILE
    leaves_doc = doc["leaves"]
    _check_shape(path, leaves_doc, batches, len(table))

    # the aggregation: the committed batch totals add up exactly to the published totals, for this round
    _verify_aggregate(aggregate_proof, commitments, totals_eq, totals_debt, digest, params, doc["aggregate"],
                      verdict)

    # the leaf list and its root
    # read once, in chunks (memory of a chunk, not of the leaf list): its SHA-256, its tree's root and the first
    # leaf holding a word that is not a field element, checked in that order (_check_shape: the batches tile the
    # leaf list in order, without gaps or overlaps); and each batch's slice's SHA-256, so that the words each
    # batch proof is checked against (read again, per batch) are the very bytes hashed to the root
    non_canonical: list[int] = []
    ends = np.cumsum([_int_field(b, "rows", f"batches[{i}]") for i, b in enumerate(batches)])
    slice_sha = [hashlib.sha256() for _ in batches]

    def inspect(first: int, records: bytes) -> None:
        if not non_canonical:
            bad = (leaf_words_of(records) >= np.uint64(leaf_format.P)).any(axis=1)
            if bad.any():
                non_canonical.append(first + int(np.argmax(bad)))
        at, view = first, memoryview(records)
        while view:
            b = int(np.searchsorted(ends, at, side="right"))
            if b >= len(ends):
                return  # leaves past the batches' end: refused below (the count)
            take = min(len(view) // 32, int(ends[b]) - at)
            slice_sha[b].update(view[: 32 * take])
            view, at = view[32 * take :], at + take

    stated = _int_field(leaves_doc, "count", "leaves")
    progress.start("tree", stated + (1 << leaf_format.tree_depth(stated)) - 1)
    root, sha, n_leaves = leaf_format.stream_tree(path, progress=lambda k: progress.advance("tree", k),
                                                  inspect=inspect)
    if sha != leaves_doc.get("sha256"):
        raise _Reject(f"{LEAVES_FILE}: its SHA-256 is not the one round.json publishes")
    if n_leaves != stated:
        raise _Reject(f"{LEAVES_FILE} holds {n_leaves} leaves, round.json says {leaves_doc.get('count')}")
    if root != leaves_doc.get("root"):
        raise _Reject("the leaf list does not hash to the published root (leaves.root)")
    verdict.leaves, verdict.leaf_root = n_leaves, root
    if non_canonical:
        # a word w < 2^32 - 1 has a second 64-bit encoding w + p: the same proven leaf under another root
        raise _Reject(f"{LEAVES_FILE}: leaf {non_canonical[0]} holds a word that is not a canonical field element "
                      "(>= p)")

    # every batch proof against its slice of the leaf list and its totals commitment
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
        proof = _published_bytes(round_dir, file, b.get("sha256"), where)
        statement = statement_words(digest, i, at)
        with path.open("rb") as handle:
            handle.seek(LEAVES_HEADER_BYTES + 32 * at)
            records = handle.read(32 * rows)
        if hashlib.sha256(records).digest() != slice_sha[i].digest():
            raise _Reject(f"{LEAVES_FILE} changed while it was being verified")
        words = np.frombuffer(records, dtype="<u8")
        try:
            verify_hidden_batch(proof, table, words.reshape(rows, 4).astype(np.uint64), commitments[i], statement,
                                params)
        except VerificationError as exc:
            raise _Reject(f"{where}: the proof in {file} is rejected: {exc}") from None
        except ValueError as exc:
            raise _Reject(f"{where}: {exc}") from None
        # after the proof, whose refusal names the more specific fault (other parameters, a tampered byte)
        expect_security = hidden_batch_security(table, rows, params).to_json()
        if json.dumps(b.get("security"), sort_keys=True) != json.dumps(expect_security, sort_keys=True):
            raise _Reject(f"{where}.security: not the soundness count of this batch's shape and parameters "
                          "(recomputed by stark/security.py)")
        _count_security(verdict, expect_security)
        at += rows
        verdict.batches_verified += 1
        progress.advance("batches")
    if at != n_leaves:
        raise _Reject(f"the batches cover {at} of the {n_leaves} leaves")
    # the STARK verifier refused any proof below 100 bits (conjectured); a round claiming the proven regime
    # must reach it there too
    if profile == "proven" and (verdict.proven_security_bits or 0) < MIN_SECURITY_BITS and not allow_insecure:
        raise _Reject(f"round.json claims the proven security profile but its proofs give "
                      f"{verdict.proven_security_bits} proven bits, below {MIN_SECURITY_BITS}")
    verdict.assets = checks  # the published totals, now proven


def _count_security(verdict: RoundVerdict, report: dict[str, Any]) -> None:
    verdict.security_bits = min(verdict.security_bits or 1e9, report["union_conjectured"])
    verdict.proven_security_bits = min(verdict.proven_security_bits or 1e9, report["union_proven"])


def _published_totals(doc: dict[str, Any]) -> tuple[list[int], list[int], list[AssetCheck]]:
    """Each asset's published total equity and debt in base units (what the aggregation proof is checked
    against), with net = equity - debt and the ``*_units`` fields, where given, saying the same."""
    equity, debt, checks = [], [], []
    for a, asset in enumerate(doc["assets"]):
        dec = int(asset["decimals"])
        name = f"assets[{a}] ({asset.get('asset')})"
        units = {}
        for key in ("total_equity", "total_debt"):
            value = _units(asset.get(key), dec)
            if value is None or not 0 <= value < MAX_TOTAL:
                raise _Reject(f"{name}: {key} {asset.get(key)!r} is not an amount in [0, 2^104) base units at "
                              f"{dec} decimals")
            units[key] = value
        eq, dt = units["total_equity"], units["total_debt"]
        for key, value in (("total_equity_units", eq), ("total_debt_units", dt)):
            if key in asset and str(asset[key]) != str(value):
                raise _Reject(f"{name}: {key} is not {key.removesuffix('_units')} ({value} base units)")
        if _units(asset.get("net_liabilities"), dec) != eq - dt:
            raise _Reject(f"{name}: net_liabilities is published as {asset.get('net_liabilities')!r} but equity - "
                          f"debt is {units_to_decimal(eq - dt, dec)}")
        equity.append(eq)
        debt.append(dt)
        checks.append(AssetCheck(str(asset["asset"]), units_to_decimal(eq, dec), units_to_decimal(dt, dec),
                                 units_to_decimal(eq - dt, dec)))
    return equity, debt, checks


def _check_shape(leaves_path: Path, leaves_doc: dict[str, Any], batches: list[Any], n_assets: int) -> None:
    """The batches tile the leaf list in order, each at least as long as any batch proof can be (the range
    table's 2^16 rows and 32 rows per asset for the totals hash: ``verify_hidden_batch`` refuses shorter ones),
    and leaves.bin's size (a stat, nothing read) is that of the stated leaf count. So batches x assets x 32 is
    at most the number of leaves, which leaves.bin's size bounds: the aggregation's work (its public columns)
    is linear in the published files, not in the product of two counts of round.json."""
    min_rows = max(MIN_ROWS, PERIOD * n_assets)
    at = 0
    for i, b in enumerate(batches):
        where = f"batches[{i}]"
        if _int_field(b, "leaf_start", where) != at:
            raise _Reject(f"{where}: batches must cover the leaf list in order, without gaps or overlaps")
        rows = _int_field(b, "rows", where)
        if rows < min_rows:
            raise _Reject(f"{where}: {rows} rows, but a batch over {n_assets} asset(s) has at least {min_rows}")
        at += rows
    count = _int_field(leaves_doc, "count", "leaves")
    if at != count:
        raise _Reject(f"the batches cover {at} leaves, round.json says leaves.count is {count}")
    if not leaves_path.exists():
        raise _Reject(f"{LEAVES_FILE} is missing")
    size = leaves_path.stat().st_size
    if size != LEAVES_HEADER_BYTES + leaf_format.LEAF_BYTES * count:
        raise _Reject(f"{LEAVES_FILE} is {size} bytes, not the {LEAVES_HEADER_BYTES} + 32 x {count} of the leaf "
                      "count round.json states")


def _aggregate_file(round_dir: Path, doc: dict[str, Any], n_batches: int, n_assets: int, params: Any) -> bytes:
    """The aggregation proof's bytes, once its record, hash and header are those of this round's statement:
    digests, parameters and trace size read from the header alone, before any work sized by round.json."""
    agg = doc["aggregate"]
    known = known_aggregate_digest()
    circuit = agg.get("circuit") or {}
    if circuit.get("name") != AGGREGATE_NAME:
        raise _Reject(f"aggregate.circuit.name must be {AGGREGATE_NAME!r}, got {str(circuit.get('name'))[:60]!r}")
    if circuit.get("digest") != known:
        raise _Reject(f"aggregate.circuit names digest {circuit.get('digest')!r}, which this verifier does not know "
                      f"(it knows {known})")
    proof = _published_bytes(round_dir, AGGREGATE_FILE, agg.get("sha256"), "aggregate")
    rejected = f"aggregate: the aggregation proof in {AGGREGATE_FILE} is rejected"
    try:
        params_digest, circuit_digest, _, n_used, _ = read_header(proof, lenient=True)
    except ProofFormatError as exc:
        raise _Reject(f"{rejected}: malformed proof: {exc}") from None
    if circuit_digest.hex() != known:
        raise _Reject(f"{rejected}: it is for circuit {circuit_digest.hex()[:16]}..., not {AGGREGATE_NAME}")
    if params_digest != params.digest():
        raise _Reject(f"{rejected}: it was made with different STARK parameters")
    if n_used != aggregate_rows(n_batches, n_assets):
        raise _Reject(f"{rejected}: its trace has {n_used} rows, {n_batches} batches of {n_assets} asset(s) "
                      f"need {aggregate_rows(n_batches, n_assets)}")
    return proof


def _verify_aggregate(proof: bytes, commitments: list[list[int]], equity: list[int], debt: list[int],
                      digest: bytes, params: Any, agg: dict[str, Any], verdict: RoundVerdict) -> None:
    air = AggregateAir(commitments, equity, debt, digest_words(digest))
    try:
        verify(air, proof, params)
    except VerificationError as exc:
        raise _Reject(f"aggregate: the aggregation proof in {AGGREGATE_FILE} is rejected: {exc}") from None
    except ValueError as exc:
        raise _Reject(f"aggregate: {exc}") from None
    expect = report_for(air, params).to_json()
    if json.dumps(agg.get("security"), sort_keys=True) != json.dumps(expect, sort_keys=True):
        raise _Reject("aggregate.security: not the soundness count of the aggregation's shape and parameters "
                      "(recomputed by stark/security.py)")
    _count_security(verdict, expect)


def _inside(round_dir: Path, file: str) -> bool:
    return (round_dir / file).resolve().is_relative_to(round_dir.resolve())


def _published_bytes(round_dir: Path, file: str, stated_sha256: Any, where: str) -> bytes:
    """The bytes of a proof file round.json lists, refused if missing or not the file whose SHA-256 it states."""
    path = round_dir / file
    if not path.exists():
        raise _Reject(f"{where}: {file} is missing")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != stated_sha256:
        raise _Reject(f"{where}: {file} is not the file round.json publishes (SHA-256 differs)")
    return data


def _units(text: Any, decimals: int) -> int | None:
    """A published total as exact base units ('1.50' and '1.5' alike; signed, since net liabilities can be
    negative), None if the amount grammar refuses it. Bounded by check_round_doc (at most 40 + 40 digits)."""
    return units_or_none(text, decimals, signed=True) if isinstance(text, str) else None
