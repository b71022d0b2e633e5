"""Hostile rounds end fast: every field of round.json is bounded before any arithmetic, mutated files end in a
verdict (never a crash) within a time proportional to their size, and batch statements are unambiguous.

The time bound: the honest round's own verification time T (measured here, on this machine) times 3, plus
one second, for inputs of the honest round's size. A field like ``"decimals": 20000000`` used to cost
31 s in ``10**decimals`` before any bound check.

A round.json's batch and asset counts cost in proportion to the published files (review of issue 14): the
aggregation's public columns are 32 x batches x assets rows, so before building them the verifier checks that
the batches tile leaves.bin, each as long as a batch proof must be, and that leaves.bin's size (a stat) is the
stated leaf count; it reads the aggregation proof's header first.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import struct
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion.por.aggregate_air import NAME as AGGREGATE_NAME
from bastion.por.aggregate_air import aggregate_rows
from bastion.por.batch_commit import NAME as SOLVENCY_NAME
from bastion.por.round_format import (
    AGGREGATE_FILE,
    LEAVES_FILE,
    ROUND_FILE,
    known_aggregate_digest,
    known_circuit_digest,
    params_to_json,
    round_digest,
    statement_words,
)
from bastion.por.round_verify import RoundVerdict, verify_round
from bastion.por.solvency_air import MIN_ROWS
from bastion.stark.uni.params import DEFAULT_PARAMS
from bastion.stark.uni.proof import MAGIC
from bastion.stark.uni.proof import VERSION as PROOF_VERSION

# values no field of round.json may hold; each one used to reach int(), Decimal() or 10**x unchecked
HOSTILE: list[Any] = [
    None, True, -1, 2**64, 10**400, 20000000, 1.5, 1e308, float("nan"), "1e-999999999", "1e999999999",
    "9" * 100_000, "", "٣", [], {}, [[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]],
]


@pytest.fixture(scope="module")
def honest_round(
    small_insecure_round: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, float]:
    """The shared 60-user round (tests/por/conftest.py) without its private folder: what a verifier gets."""
    out = tmp_path_factory.mktemp("hostile") / "round"
    shutil.copytree(small_insecure_round[1], out, ignore=shutil.ignore_patterns("private"))
    started = time.perf_counter()
    verdict = verify_round(out, allow_insecure_params=True)
    took = time.perf_counter() - started
    assert verdict.ok, verdict.reason
    return out, took


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of round.json (the first asset and batch stand for the others)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield (*prefix, k)
            if k != "security":  # one soundness figure stands for the others (all compared at once)
                yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list) and doc:
        yield (*prefix, 0)
        yield from _paths(doc[0], (*prefix, 0))


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(doc)
    at = out
    for k in path[:-1]:
        at = at[k]
    at[path[-1]] = value
    return out


def _verdict_in_time(d: Path, bound: float) -> RoundVerdict:
    started = time.perf_counter()
    verdict = verify_round(d, allow_insecure_params=True)
    took = time.perf_counter() - started
    assert isinstance(verdict, RoundVerdict)
    assert took <= bound, f"verdict after {took:.1f} s (bound {bound:.1f} s): {verdict.reason}"
    return verdict


# fields the batch proofs do not bind (informational, or bound by the reserves side's signatures): a
# well-typed value in range is accepted there, anything else refused like everywhere else
_FREE = {("prover_version",), ("users",), ("rows",), ("circuit", "name"), ("block_heights",),
         # an asset's symbol is the exchange's label (like its price, it is what users and the reserves side
         # read); the proofs bind its index, decimals, price, haircut and cap. bastion-round/2 tied it only to
         # the keys of the per-batch totals it no longer publishes
         ("assets", 0, "asset")}


def _well_typed(path: tuple[Any, ...], value: Any) -> bool:
    if path[0] == "block_heights":
        return value == {} or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63)
    if path[0] in ("users", "rows"):
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2**40
    return isinstance(value, str) and 0 < len(value) <= 256


def test_every_field_of_round_json_bounded_before_arithmetic(honest_round: tuple[Path, float], tmp_path: Path) -> None:
    src, t_honest = honest_round
    bound = 3 * t_honest + 1.0
    d = tmp_path / "r"
    shutil.copytree(src, d)
    doc = json.loads((src / ROUND_FILE).read_text())
    paths = list(_paths(doc))
    assert len(paths) > 40
    for path in paths:
        for value in HOSTILE:
            if path[-1] == "format" and isinstance(value, str):
                continue
            (d / ROUND_FILE).write_text(json.dumps(_set(doc, path, value)))
            verdict = _verdict_in_time(d, bound)
            if verdict.ok:
                assert path in _FREE or path[:2] in _FREE or path[:1] in _FREE, (path, _short(value))
                assert _well_typed(path, value), (path, _short(value))
                continue
            # a named check refused it, not the catch-all around an unexpected exception
            assert verdict.reason is not None
            assert not verdict.reason.startswith("malformed round ("), (path, _short(value), verdict.reason)


def _short(v: Any) -> str:
    return repr(v)[:40]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("assets", 0, "decimals"), 20000000, "decimals"),
        (("assets", 0, "price_usd"), "1e-999999999", "price_usd"),
        (("assets", 0, "haircut"), "1e999999999", "haircut"),
        (("assets", 0, "price_usd"), "1" * 5000 + ".5", "price_usd"),
        (("assets", 0, "total_equity"), "1" * 5000, "total_equity"),
    ],
)
def test_decimals_and_exponent_denial_of_service_refused_fast(
    honest_round: tuple[Path, float], tmp_path: Path, path: tuple[Any, ...], value: Any, field: str
) -> None:
    src, t_honest = honest_round
    d = tmp_path / "r"
    shutil.copytree(src, d)
    doc = json.loads((src / ROUND_FILE).read_text())
    (d / ROUND_FILE).write_text(json.dumps(_set(doc, path, value)))
    started = time.perf_counter()
    verdict = verify_round(d, allow_insecure_params=True)
    assert time.perf_counter() - started < 0.5 + t_honest
    assert not verdict.ok and verdict.reason is not None and field in verdict.reason


def _mutations(data: bytes) -> Iterator[tuple[str, bytes]]:
    n = len(data)
    yield "empty", b""
    yield "truncated to half", data[: n // 2]
    yield "one byte short", data[:-1]
    yield "trailing byte", data + b"\x00"
    yield "doubled", data + data
    for at in (0, 4, 8, 40, 80, n // 3, n // 2, n - 33, n - 1):
        flipped = bytearray(data)
        flipped[at] ^= 0x01
        yield f"bit flipped at {at}", bytes(flipped)
    yield "all 0xff", b"\xff" * n


def test_mutated_proof_files_end_in_a_verdict(honest_round: tuple[Path, float], tmp_path: Path) -> None:
    """Proof bytes mutated and their SHA-256 updated in round.json, so the STARK verifier itself sees them."""
    src, t_honest = honest_round
    doc = json.loads((src / ROUND_FILE).read_text())
    proof_file = doc["batches"][0]["file"]
    data = (src / proof_file).read_bytes()
    for name, bad in _mutations(data):
        d = tmp_path / name.replace(" ", "-")
        shutil.copytree(src, d)
        (d / proof_file).write_bytes(bad)
        (d / ROUND_FILE).write_text(
            json.dumps(_set(doc, ("batches", 0, "sha256"), hashlib.sha256(bad).hexdigest())))
        bound = 3 * t_honest * max(1.0, len(bad) / len(data)) + 1.0
        verdict = _verdict_in_time(d, bound)
        assert not verdict.ok, name
        assert "rejected" in (verdict.reason or ""), (name, verdict.reason)


def test_mutated_aggregation_proof_ends_in_a_verdict(honest_round: tuple[Path, float], tmp_path: Path) -> None:
    """The aggregation proof mutated (its SHA-256 updated in round.json): a verdict naming it, in bounded time."""
    src, t_honest = honest_round
    doc = json.loads((src / ROUND_FILE).read_text())
    data = (src / AGGREGATE_FILE).read_bytes()
    for name, bad in _mutations(data):
        d = tmp_path / name.replace(" ", "-")
        shutil.copytree(src, d)
        (d / AGGREGATE_FILE).write_bytes(bad)
        (d / ROUND_FILE).write_text(json.dumps(_set(doc, ("aggregate", "sha256"), hashlib.sha256(bad).hexdigest())))
        verdict = _verdict_in_time(d, 3 * t_honest * max(1.0, len(bad) / len(data)) + 1.0)
        assert not verdict.ok, name
        assert "aggregation proof" in (verdict.reason or "") and "rejected" in (verdict.reason or ""), (
            name, verdict.reason)
    # missing, or another file than round.json states
    d = tmp_path / "missing"
    shutil.copytree(src, d)
    (d / AGGREGATE_FILE).unlink()
    assert "aggregate.proof is missing" in (_verdict_in_time(d, 3 * t_honest + 1.0).reason or "")
    d = tmp_path / "other"
    shutil.copytree(src, d)
    (d / AGGREGATE_FILE).write_bytes(data + b"\x00")
    assert "SHA-256 differs" in (_verdict_in_time(d, 3 * t_honest + 1.0).reason or "")


def test_mutated_leaf_files_end_in_a_verdict(honest_round: tuple[Path, float], tmp_path: Path) -> None:
    src, t_honest = honest_round
    doc = json.loads((src / ROUND_FILE).read_text())
    data = (src / "leaves.bin").read_bytes()
    header = bytearray(data)
    header[8:16] = (1 << 60).to_bytes(8, "little")  # a leaf count far beyond the file
    for name, bad in [*_mutations(data), ("huge count", bytes(header))]:
        d = tmp_path / name.replace(" ", "-")
        shutil.copytree(src, d)
        (d / "leaves.bin").write_bytes(bad)
        (d / ROUND_FILE).write_text(
            json.dumps(_set(doc, ("leaves", "sha256"), hashlib.sha256(bad).hexdigest())))
        verdict = _verdict_in_time(d, 3 * t_honest * max(1.0, len(bad) / len(data)) + 1.0)
        assert not verdict.ok, name


def test_old_format_refused_by_name(honest_round: tuple[Path, float], tmp_path: Path) -> None:
    src, _ = honest_round
    d = tmp_path / "r"
    shutil.copytree(src, d)
    doc = json.loads((src / ROUND_FILE).read_text())
    doc["format"] = "bastion-round/1"
    (d / ROUND_FILE).write_text(json.dumps(doc))
    verdict = verify_round(d, allow_insecure_params=True)
    assert not verdict.ok
    assert "bastion-round/1 is refused" in (verdict.reason or "") and "re-prove" in (verdict.reason or "")
    # version 2 published every batch's per-asset totals: refused by name, in one line that says so
    doc["format"] = "bastion-round/2"
    (d / ROUND_FILE).write_text(json.dumps(doc))
    verdict = verify_round(d, allow_insecure_params=True)
    assert not verdict.ok and verdict.reason is not None
    assert "bastion-round/2 is refused" in verdict.reason and "per-batch amounts" in verdict.reason
    assert "\n" not in verdict.reason


def test_ambiguous_statement_pair_gives_different_words() -> None:
    base = {"exchange": "X", "snapshot_time": "2026-11-01T00:00:00Z"}
    a = round_digest({**base, "round_id": "2026-11\x00ab", "nonce": "cd"})
    b = round_digest({**base, "round_id": "2026-11", "nonce": "ab\x00cd"})
    assert a != b
    assert statement_words(a, 0, 0) != statement_words(b, 0, 0)
    # the words keep all 256 bits: every digest bit changes the words, and each word is below p
    p = 2**64 - 2**32 + 1
    words = statement_words(a, 0, 0)
    assert all(0 <= w < p for w in words)
    for bit in range(256):
        flipped = (int.from_bytes(a, "little") ^ (1 << bit)).to_bytes(32, "little")
        assert statement_words(flipped, 0, 0) != words
    # exchange and snapshot time are part of the round's identity too
    assert round_digest({**base, "round_id": "r", "nonce": "n"}) != round_digest(
        {**base, "exchange": "Y", "round_id": "r", "nonce": "n"})


def test_round_digest_published_and_checked(honest_round: tuple[Path, float], tmp_path: Path) -> None:
    src, _ = honest_round
    doc = json.loads((src / ROUND_FILE).read_text())
    assert doc["round_digest"] == round_digest(doc).hex()
    d = tmp_path / "r"
    shutil.copytree(src, d)
    (d / ROUND_FILE).write_text(json.dumps({**doc, "snapshot_time": "2026-12-02T00:00:00Z"}))
    verdict = verify_round(d, allow_insecure_params=True)
    assert not verdict.ok and "round_digest" in (verdict.reason or "")
    doc.pop("round_digest")
    (d / ROUND_FILE).write_text(json.dumps({**doc, "snapshot_time": "2026-12-02T00:00:00Z"}))
    verdict = verify_round(d, allow_insecure_params=True)
    assert not verdict.ok and "rejected" in (verdict.reason or "")  # the proofs bind the snapshot time


def test_round_states_its_soundness_per_batch_and_the_verifier_recomputes_it(
    honest_round: tuple[Path, float], tmp_path: Path
) -> None:
    src, _ = honest_round
    doc = json.loads((src / ROUND_FILE).read_text())
    sec = doc["batches"][0]["security"]
    agg = doc["aggregate"]["security"]
    assert agg["inputs"]["num_queries"] == 8 and agg["union_conjectured"] < 100  # the same shape, counted alike
    assert [lk["name"] for lk in agg["inputs"]["lookups"]] == ["batch_totals"]
    assert sec["inputs"]["num_queries"] == 8 and sec["inputs"]["rows_used"] == doc["batches"][0]["rows"]
    assert {"fri_queries", "fri_folding", "deep_batching", "ood_deep_ali", "logup_range", "union"} <= set(
        sec["conjectured_bits"])
    assert sec["union_conjectured"] < 100  # test parameters
    # without the explicit opt-in the verifier refuses these proofs: the gate applies to every proof
    verdict = verify_round(src)
    assert not verdict.ok and "below 100" in (verdict.reason or "")
    d = tmp_path / "r"
    shutil.copytree(src, d)
    sec["union_conjectured"] = 128.0  # a round claiming more than its shape gives
    (d / ROUND_FILE).write_text(json.dumps(doc))
    verdict = verify_round(d, allow_insecure_params=True)
    assert not verdict.ok and "batches[0].security" in (verdict.reason or "")
    sec["union_conjectured"] = json.loads((src / ROUND_FILE).read_text())["batches"][0]["security"]["union_conjectured"]
    agg["union_conjectured"] = 128.0
    (d / ROUND_FILE).write_text(json.dumps(doc))
    verdict = verify_round(d, allow_insecure_params=True)
    assert not verdict.ok and "aggregate.security" in (verdict.reason or "")


# --------------------------------------------------------------------------------------------------
# hostile batch and asset counts (review of issue 14)


def _hostile_round(d: Path, assets: int, batches: int, proof: bytes = b"\x00" * 64) -> int:
    """A round.json that passes every bound of check_round_doc (default parameters, known digests, consistent
    totals, canonical commitments), with an aggregation file whose SHA-256 it states. Returns its size."""
    d.mkdir(parents=True)
    (d / AGGREGATE_FILE).write_bytes(proof)
    doc = {
        "format": "bastion-round/3",
        "exchange": "X",
        "round_id": "2026-12",
        "snapshot_time": "2026-12-01T00:00:00Z",
        "nonce": "0" * 32,
        "block_heights": {},
        "circuit": {"name": SOLVENCY_NAME, "digest": known_circuit_digest(),
                    "stark_params": params_to_json(DEFAULT_PARAMS)},
        "assets": [
            {"index": i, "asset": f"A{i}", "decimals": 8, "price_usd": "1", "haircut": "1", "amount_bits": 48,
             "total_equity": "1.00000000", "total_debt": "0", "net_liabilities": "1.00000000"}
            for i in range(assets)
        ],
        "leaves": {"file": LEAVES_FILE, "count": 1, "sha256": "0" * 64, "root": "0" * 64},
        "batches": [
            {"index": i, "file": f"batches/batch-{i:05d}.proof", "leaf_start": 0, "rows": 1, "sha256": "0" * 64,
             "security": {}, "totals_commitment": "0" * 64}
            for i in range(batches)
        ],
        "aggregate": {"file": AGGREGATE_FILE, "sha256": hashlib.sha256(proof).hexdigest(),
                      "circuit": {"name": AGGREGATE_NAME, "digest": known_aggregate_digest()}, "security": {}},
    }
    text = json.dumps(doc, separators=(",", ":"))
    (d / ROUND_FILE).write_text(text)
    return len(text) + len(proof)


def _cost(d: Path) -> tuple[float, int, str]:
    tracemalloc.start()
    try:
        started = time.perf_counter()
        verdict = verify_round(d)
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not verdict.ok and verdict.reason is not None
    return took, peak, verdict.reason


def test_hostile_batch_and_asset_counts_cost_in_proportion_to_the_file(tmp_path: Path) -> None:
    small_size = _hostile_round(tmp_path / "small", assets=16, batches=16)
    big_size = _hostile_round(tmp_path / "big", assets=512, batches=128)  # 32 x 128 x 512 = 2^21 rows
    verify_round(tmp_path / "small")  # warm the circuit-digest caches and imports
    t_small, m_small, _ = _cost(tmp_path / "small")
    t_big, m_big, reason = _cost(tmp_path / "big")
    ratio = big_size / small_size
    # the verdict is a refusal either way (the proof is 64 zero bytes); what it costs is the point
    assert "aggregat" in reason, reason
    assert m_big <= m_small + 200 * big_size + (16 << 20), (
        f"a {big_size / 1024:.0f} KiB round.json made the verifier allocate {m_big / 2**20:.0f} MiB before "
        f"reading its proof (a {small_size / 1024:.0f} KiB one: {m_small / 2**20:.0f} MiB): 32 x batches x assets "
        f"rows of public columns")
    assert t_big <= 3 * t_small * ratio + 1.0, f"{t_big:.2f} s for {ratio:.0f}x the input (small: {t_small:.2f} s)"


def _aggregate_header(assets: int, batches: int) -> bytes:
    """The header of an aggregation proof for exactly this statement's shape: the known circuit digest, the
    default parameters' digest and 32 x batches x assets rows. Only the body after it could be wrong."""
    header = (MAGIC + struct.pack("<H", PROOF_VERSION) + DEFAULT_PARAMS.digest()
              + bytes.fromhex(known_aggregate_digest()) + struct.pack("<B", 25)
              + struct.pack("<I", aggregate_rows(batches, assets)) + struct.pack("<I", 0))
    return header + b"\x00" * 4096


def test_hostile_counts_behind_a_well_formed_aggregation_header_end_at_the_round_shape(tmp_path: Path) -> None:
    """The same hostile counts behind an aggregation proof whose header fits them: the shape check (the
    batches tile leaves.bin, each as long as a batch proof must be, leaves.bin's size is the stated count)
    ends it before any public column is built, in bounded memory."""
    assets, batches = 512, 128
    size = _hostile_round(tmp_path / "r", assets=assets, batches=batches, proof=_aggregate_header(assets, batches))
    _, peak, reason = _cost(tmp_path / "r")
    assert "batches[0]: 1 rows" in reason, reason
    assert peak <= 200 * size + (16 << 20), f"{peak / 2**20:.0f} MiB"

    # rows long enough and tiling a stated leaf count, but no leaves.bin of that size: a stat refuses it
    d = tmp_path / "sized"
    _hostile_round(d, assets=assets, batches=batches, proof=_aggregate_header(assets, batches))
    doc = json.loads((d / ROUND_FILE).read_text())
    rows = max(MIN_ROWS, 32 * assets)  # as long as a batch proof must be
    for i, b in enumerate(doc["batches"]):
        b["rows"], b["leaf_start"] = rows, i * rows
    doc["leaves"]["count"] = rows * batches
    (d / ROUND_FILE).write_text(json.dumps(doc))
    (d / LEAVES_FILE).write_bytes(b"BLEAVES1" + (1).to_bytes(8, "little") + bytes(32))
    _, peak, reason = _cost(d)
    assert f"{LEAVES_FILE} is 48 bytes" in reason, reason
    assert peak <= 200 * len(json.dumps(doc)) + (16 << 20), f"{peak / 2**20:.0f} MiB"
