"""A real round (two batches) publishes no per-batch amount, and its aggregation proof ties the hidden batch
totals to the published ones (``bastion-round/3``, docs/spec/round-format.md).

* Every file of the published directory (everything but ``private/``) is read and searched for every batch's
  limb totals, per-asset batch sums and nets, and the batches' totals salts, in every encoding a file could
  carry them (decimal text, decimal at the asset's decimals, JSON numbers and strings, u64 little- and big-endian
  field words); the global per-asset totals are found, as the control that the search sees what is there.
* At round level, through ``verify_round`` (what ``bastion por verify`` runs): a batch's commitment one unit
  off, two batches' commitments swapped, another round's commitment to the very same totals, each refused by
  the aggregation proof; and a cheater who re-proves the aggregation for a commitment to totals one unit off
  is refused by that batch's proof. Either way one of the two proofs breaks.
* Users' inclusion proofs say nothing about a batch's number of real rows (review of issue 14): padding rows
  sit among the users in an order keyed by the round secret, not at the batch's tail.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from por_support import ProvenRound

from bastion.por.aggregate_air import AggregateAir, aggregate_trace
from bastion.por.round import UserProofs, batch_order, batch_totals_salt
from bastion.por.round_format import (
    AGGREGATE_FILE,
    PRIVATE_DIR,
    ROUND_FILE,
    commitment_hex,
    commitment_words,
    digest_words,
    recombine,
    round_digest,
    units_to_decimal,
)
from bastion.por.round_verify import verify_round
from bastion.por.totals_hash import commitment, messages_of
from bastion.stark.field import goldilocks as F
from bastion.stark.uni.params import INSECURE_TEST_PARAMS
from bastion.stark.uni.prover import prove

PARAMS = INSECURE_TEST_PARAMS
MIN_TEXT = 10**7  # decimal text of 8+ digits: shorter numbers occur by chance in hex digests and proofs
MIN_WORD = 1 << 24  # a u64 word with 5+ zero bytes occurs by chance in headers and lengths


@pytest.fixture(scope="module")
def two_batch_round(two_batch_round_proven: ProvenRound) -> tuple[Path, Path]:
    """33,000 users in two batches (tests/por/conftest.py, shared read-only with test_round.py)."""
    snap, out = two_batch_round_proven.snap, two_batch_round_proven.out
    verdict = verify_round(out, allow_insecure_params=True)
    assert verdict.ok, verdict.reason
    return snap, out


def _checkpoints(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out / PRIVATE_DIR).glob("batch-*.json"))]


def _public_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file() and PRIVATE_DIR not in p.relative_to(out).parts)


def _json_values(doc: Any) -> Iterator[Any]:
    if isinstance(doc, dict):
        for v in doc.values():
            yield from _json_values(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _json_values(v)
    else:
        yield doc


def test_no_published_file_holds_a_per_batch_amount(two_batch_round: tuple[Path, Path]) -> None:
    _snap, out = two_batch_round
    doc = json.loads((out / ROUND_FILE).read_text())
    assert doc["format"] == "bastion-round/3" and len(doc["batches"]) == 2
    files = _public_files(out)
    assert {p.relative_to(out).as_posix() for p in files} == {
        ROUND_FILE, "leaves.bin", "batches/batch-00000.proof", "batches/batch-00001.proof", AGGREGATE_FILE}
    assets = doc["assets"]
    public_units = {int(a[k]) for a in assets for k in ("total_equity_units", "total_debt_units")}
    public_units |= {int(a["total_equity_units"]) - int(a["total_debt_units"]) for a in assets}
    public_text = {units_to_decimal(int(a[k]), int(a["decimals"])) for a in assets
                   for k in ("total_equity_units", "total_debt_units")}
    public_text |= {str(int(a[k])) for a in assets for k in ("total_equity_units", "total_debt_units")}
    public_text |= {units_to_decimal(int(a["total_equity_units"]) - int(a["total_debt_units"]), int(a["decimals"]))
                    for a in assets}

    # every private per-batch value: limb totals, per-asset sums (equity, debt, net), and the totals salts
    secret = (out / PRIVATE_DIR / "secret.bin").read_bytes()
    values: set[int] = set()
    decimals_text: set[str] = set()
    for rec in _checkpoints(out):
        for a, asset in enumerate(assets):
            eq = [int(v) for v in rec["equity_limbs"][a]]
            dt = [int(v) for v in rec["debt_limbs"][a]]
            sums = [recombine(eq), recombine(dt), recombine(eq) - recombine(dt)]
            values |= {*eq, *dt, *(abs(s) for s in sums)}
            decimals_text |= {units_to_decimal(s, int(asset["decimals"])) for s in sums if abs(s) >= MIN_TEXT}
        values |= set(batch_totals_salt(secret, rec["index"]))
    values -= public_units  # a batch whose sum is the round's (the other batch holds none) publishes nothing new
    checked = {v for v in values if v >= MIN_WORD}
    assert len(checked) >= 40  # the search has something to find: limb totals of thousands of holdings, salts

    found_global = set()
    for path in files:
        data = path.read_bytes()
        text = data.decode("latin-1")
        name = path.relative_to(out).as_posix()
        for v in checked:
            assert v.to_bytes(8, "little") not in data, (name, v, "u64 LE")
            assert v.to_bytes(8, "big") not in data, (name, v, "u64 BE")
            if v >= MIN_TEXT:
                assert str(v) not in text, (name, v, "decimal")
        for t in decimals_text:
            assert t not in text, (name, t, "decimal at the asset's decimals")
        if path.name == ROUND_FILE:
            # JSON values, compared whole (no false positives from digits inside hex)
            for v in _json_values(json.loads(data)):
                if isinstance(v, (int, str)) and not isinstance(v, bool) and str(v).isdigit():
                    assert int(v) not in checked, (name, v)
            found_global |= {t for t in public_text if t in text}
    assert found_global == public_text  # the control: the global totals are there, in full


def test_what_a_round_reveals_about_the_number_of_users(two_batch_round: tuple[Path, Path]) -> None:
    """Decided (docs/por.md, "What a round reveals"): hidden to within a batch. round.json states no user or row
    count; the leaf count is batches x one padded batch size."""
    snap, out = two_batch_round
    doc = json.loads((out / ROUND_FILE).read_text())
    users = len({line.split(",")[0] for line in (snap / "balances.csv").read_text().splitlines()[1:]})
    rows = len((snap / "balances.csv").read_text().splitlines()) - 1
    assert "users" not in doc and "rows" not in doc
    values = [v for v in _json_values(doc) if isinstance(v, int) and not isinstance(v, bool)]
    assert users not in values and rows not in values
    sizes = {b["rows"] for b in doc["batches"]}
    assert len(sizes) == 1 and doc["leaves"]["count"] == len(doc["batches"]) * sizes.pop() > rows


def test_totals_salts_are_per_batch_per_round_and_keyed_by_the_private_secret() -> None:
    a, b = bytes(32), bytes([1]) + bytes(31)
    salts = [batch_totals_salt(a, i) for i in range(4)] + [batch_totals_salt(b, i) for i in range(4)]
    words = [w for s in salts for w in s]
    assert all(len(s) == 4 for s in salts) and all(0 <= w < F.P_INT for w in words)
    assert len(set(words)) == len(words)  # no salt word repeats across batches or rounds
    assert batch_totals_salt(a, 3) == batch_totals_salt(a, 3)  # derived again at publication, never stored
    # spread over the whole field (128-bit chunks reduced mod p), not 63-bit values
    many = [w for i in range(256) for w in batch_totals_salt(b, i)]
    assert max(many) > 1 << 63


def _tamper(src: Path, dst: Path, edit: Any) -> str:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(PRIVATE_DIR))
    doc = json.loads((dst / ROUND_FILE).read_text())
    edit(doc)
    (dst / ROUND_FILE).write_text(json.dumps(doc))
    verdict = verify_round(dst, allow_insecure_params=True)
    assert not verdict.ok and verdict.reason
    return verdict.reason


def test_aggregation_refuses_altered_swapped_or_foreign_commitments(
    two_batch_round: tuple[Path, Path], tmp_path: Path
) -> None:
    _snap, out = two_batch_round
    doc = json.loads((out / ROUND_FILE).read_text())

    def plus_one(d: dict[str, Any]) -> None:
        words = commitment_words(d["batches"][0]["totals_commitment"])
        words[0] = (words[0] + 1) % F.P_INT
        d["batches"][0]["totals_commitment"] = commitment_hex(words)

    def swapped(d: dict[str, Any]) -> None:
        b = d["batches"]
        b[0]["totals_commitment"], b[1]["totals_commitment"] = b[1]["totals_commitment"], b[0]["totals_commitment"]

    # another round of the same snapshot: the same totals committed under that round's salt
    rec = _checkpoints(out)[0]
    foreign = commitment_hex(commitment(batch_totals_salt(bytes(32), 0), messages_of(rec["equity_limbs"],
                                                                                       rec["debt_limbs"])))
    assert foreign != doc["batches"][0]["totals_commitment"]

    for name, edit in (("plus-one", plus_one), ("swapped", swapped),
                       ("foreign", lambda d: d["batches"][0].update(totals_commitment=foreign))):
        reason = _tamper(out, tmp_path / name, edit)
        assert "aggregation proof in aggregate.proof is rejected" in reason, (name, reason)


def test_reproven_aggregation_for_totals_one_unit_off_is_refused_by_the_batch_proof(
    two_batch_round: tuple[Path, Path], tmp_path: Path
) -> None:
    """The cheater moves one unit into batch 0's hidden equity of asset 0, publishes the matching commitment and
    totals and proves a fresh aggregation of them (valid): batch 0's proof then refuses the commitment."""
    _snap, out = two_batch_round
    doc = json.loads((out / ROUND_FILE).read_text())
    secret = (out / PRIVATE_DIR / "secret.bin").read_bytes()
    recs = _checkpoints(out)
    eq = np.array([[[int(v) for v in row] for row in r["equity_limbs"]] for r in recs], dtype=object)
    dt = np.array([[[int(v) for v in row] for row in r["debt_limbs"]] for r in recs], dtype=object)
    eq[0, 0, 0] += 1
    salts = [batch_totals_salt(secret, r["index"]) for r in recs]
    main, commits = aggregate_trace(salts, eq, dt)
    equity = [int(a["total_equity_units"]) for a in doc["assets"]]
    debt = [int(a["total_debt_units"]) for a in doc["assets"]]
    equity[0] += 1
    air = AggregateAir(commits, equity, debt, digest_words(round_digest(doc)))
    proof = prove(air, main, PARAMS)

    d = tmp_path / "forged"
    shutil.copytree(out, d, ignore=shutil.ignore_patterns(PRIVATE_DIR))
    (d / AGGREGATE_FILE).write_bytes(proof)
    forged = copy.deepcopy(doc)
    forged["aggregate"]["sha256"] = hashlib.sha256(proof).hexdigest()
    forged["batches"][0]["totals_commitment"] = commitment_hex(commits[0])
    a = forged["assets"][0]
    dec = int(a["decimals"])
    a.update(total_equity=units_to_decimal(equity[0], dec), total_equity_units=str(equity[0]),
             net_liabilities=units_to_decimal(equity[0] - debt[0], dec))
    (d / ROUND_FILE).write_text(json.dumps(forged))
    verdict = verify_round(d, allow_insecure_params=True)
    assert not verdict.ok and verdict.reason is not None
    assert verdict.reason.startswith("batches[0]: the proof in batches/batch-00000.proof is rejected"), verdict.reason
    # the control: the same forgery with the honest commitment and totals restored verifies (only the unit broke it)
    (d / ROUND_FILE).write_text(json.dumps({**doc, "aggregate": doc["aggregate"]}))
    (d / AGGREGATE_FILE).write_bytes((out / AGGREGATE_FILE).read_bytes())
    assert verify_round(d, allow_insecure_params=True).ok


# --------------------------------------------------------------------------------------------------
# what users' proofs reveal about a batch's real rows (review of issue 14)


@pytest.fixture(scope="module")
def small_round(small_insecure_round: tuple[Path, Path]) -> tuple[Path, Path]:
    return small_insecure_round  # tests/por/conftest.py: 60 users, 3 assets, one padded batch


def test_users_proofs_do_not_pin_the_number_of_real_rows(small_round: tuple[Path, Path]) -> None:
    """docs/por.md ("What a round reveals"): the number of users is revealed not at all beyond the batch count.
    With padding as each batch's tail, the largest row end among the users' proofs of a batch would be its exact
    real-row count."""
    snap, out = small_round
    doc = json.loads((out / ROUND_FILE).read_text())
    assert "users" not in doc and "rows" not in doc  # the round itself states no count
    lines = (snap / "balances.csv").read_text().splitlines()[1:]
    uids = sorted({line.split(",")[0] for line in lines})
    real_rows = len(lines)
    assert len(doc["batches"]) == 1 and doc["batches"][0]["rows"] > real_rows  # one padded batch
    proofs = UserProofs(out)
    ends = [max(r["leaf_index"] for r in proofs.make(uid)["rows"]) + 1 for uid in uids]
    # what the users can compute together (and each one, a lower bound): the batch's real-row count
    assert max(ends) != real_rows, (
        f"the users' proofs end at leaf {max(ends)}: exactly the {real_rows} real rows of a batch of "
        f"{doc['batches'][0]['rows']} (padding is the batch's tail)")
    # spread over the whole batch, not packed at its start: the users' rows reach its last quarter
    assert max(ends) > 3 * doc["batches"][0]["rows"] // 4
    assert verify_round(out, allow_insecure_params=True).ok


def test_users_rows_are_spread_over_each_batch(two_batch_round: tuple[Path, Path]) -> None:
    """In both batches of the two-batch round, the users' rows (where their proofs' leaf indices point) spread
    over the whole padded batch: about as many in its first half as in its second."""
    _, out = two_batch_round
    doc = json.loads((out / ROUND_FILE).read_text())
    priv = out / PRIVATE_DIR
    starts, counts = np.load(priv / "users-leaf-start.npy"), np.load(priv / "users-count.npy")
    uids = np.load(priv / "users-uid.npy")
    proofs = UserProofs(out)
    for k in (0, len(uids) // 2, len(uids) - 1):  # the proofs give exactly these rows
        assert [r["leaf_index"] for r in proofs.make(str(uids[k]))["rows"]] == list(
            range(int(starts[k]), int(starts[k] + counts[k])))
    rows = np.concatenate([np.arange(s, s + c) for s, c in zip(starts.tolist(), counts.tolist(), strict=True)])
    for b in doc["batches"]:
        lo, n = b["leaf_start"], b["rows"]
        mine = rows[(rows >= lo) & (rows < lo + n)] - lo
        first, second = int((mine < n // 2).sum()), int((mine >= n // 2).sum())
        assert abs(first - second) < 0.05 * len(mine), (b["index"], first, second)


def test_batch_layout_is_a_secret_keyed_uniform_interleaving() -> None:
    counts = np.array([3, 1, 2, 5], dtype=np.int64)
    a, b = bytes(32), bytes([1]) + bytes(31)
    users, pads = batch_order(a, 0, counts, 9)
    # a tiling: every row of the 20 is one user's or one padding row's, once
    taken = np.concatenate([np.arange(s, s + c) for s, c in zip(users.tolist(), counts.tolist(), strict=True)]
                           + [pads])
    assert sorted(taken.tolist()) == list(range(20))
    again = batch_order(a, 0, counts, 9)
    assert np.array_equal(again[0], users) and np.array_equal(again[1], pads)  # derived again, never stored
    layouts = {tuple(batch_order(s, i, counts, 9)[0].tolist()) for s in (a, b) for i in range(8)}
    assert len(layouts) > 8  # other secret or other batch: another order
    # uniform: over many batches, the first user leads the batch about as often as any of the 13 units
    leads = sum(int(batch_order(a, i, counts, 9)[0][0] == 0) for i in range(2600))
    assert 100 <= leads <= 300  # expected 200 (1/13), a binomial sd of 14
