"""The solvency proof under attack: every attack of the design's list, built as a cheating exchange would
build it, and shown REJECTED (``shared/design/solvency-proof.md``, "Known attacks the tests must try").

Two levels:

* **Cheating proofs.** A forged witness (``main_trace(..., check=False)``, then the cells edited and every
  cell an attacker would recompute recomputed *in the field*: top-limb scales, accumulators, net, the
  Poseidon2 leaf, both multiplicity columns), proven with ``prove(..., check=False)`` and verified with the
  same public data. ``broken`` names the constraints the witness violates, so each test also shows *which*
  constraint is the one thing standing between the attacker and a valid proof (usually the LogUp sum: the
  range or asset-table lookup that cannot close).
* **Tampered files.** A small round proven end to end, then ``round.json``, ``leaves.bin``, a batch proof
  or a user's proof file edited (with every hash an attacker can recompute recomputed) and refused by
  ``verify_round`` / ``verify_user_proof``.

Each attack has a happy-path control in the same style, so the tests are known to be able to pass.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from bastion.por import commit
from bastion.por.batch import BatchError, BatchRows, main_trace, make_air, range_multiplicities, verify_batch
from bastion.por.round import make_user_proof
from bastion.por.round_format import LEAVES_FILE, ROUND_FILE, read_leaves, units_to_decimal, write_leaves
from bastion.por.round_verify import verify_round
from bastion.por.solvency_air import (
    GADGET,
    LIMB_BITS,
    LIMBS,
    N_PAIRS,
    RANGE_EXPRS,
    AssetRow,
    Col,
    Pub,
    SolvencyAir,
    asset_row,
    limbs,
)
from bastion.por.user_proof import verify_user_proof
from bastion.stark.air.air import Frame
from bastion.stark.field import goldilocks as F
from bastion.stark.field.vals import Val
from bastion.stark.uni.params import INSECURE_TEST_PARAMS
from bastion.stark.uni.prover import prove
from bastion.stark.uni.verifier import VerificationError, verify

U64 = NDArray[np.uint64]
Honest = tuple[BatchRows, dict[str, int], U64, SolvencyAir, bytes]  # rows, user starts, trace, statement, proof
PARAMS = INSECURE_TEST_PARAMS
P = F.P_INT
N = 1 << 16  # the smallest batch (the 2^16 range table must fit)
STATEMENT = [1234, 5678, 0, 0]

# BTC: 970 micro-USD a satoshi, cap 2^50; USDT: 1 micro-USD a unit, 10% haircut, cap 2^56; TINY: 1e-13 micro-USD
# a unit, so it may use the full B = 63 bits.
TABLE = [asset_row(8, "97000", "1", 50), asset_row(6, "1", "0.9", 56), asset_row(18, "0.1", "1", 63)]
BTC, USDT, TINY = 0, 1, 2

# (asset, equity, debt) rows of the real users; every other row is a one-row zero padding "user"
USERS: dict[str, list[tuple[int, int, int]]] = {
    "alice": [(BTC, 150_000_000, 0), (USDT, 0, 1_000_000_000)],  # 1.5 BTC, owes 1000 USDT
    "bob": [(USDT, 5_000_000_000, 0), (BTC, 10_000_000, 0), (TINY, 10**18, 0)],
    "carol": [(USDT, 10_000_000, 0)],
}


def build_rows(users: dict[str, list[tuple[int, int, int]]], seed: int = 7) -> tuple[BatchRows, dict[str, int]]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 1 << 63, (N, 4), dtype=np.uint64)
    asset = np.zeros(N, dtype=np.uint64)
    equity = np.zeros(N, dtype=np.uint64)
    debt = np.zeros(N, dtype=np.uint64)
    start = np.ones(N, dtype=bool)
    at, where = 0, {}
    for name, rows in users.items():
        where[name] = at
        for i, (a, e, d) in enumerate(rows):
            ids[at + i] = ids[at]
            asset[at + i], equity[at + i], debt[at + i] = a, e, d
            start[at + i] = i == 0
        at += len(rows)
    salt = rng.integers(0, 1 << 63, N, dtype=np.uint64)
    return BatchRows(ids, asset, equity, debt, salt, start), where


# --------------------------------------------------------------------------------------------------
# the attacker's tools


def _recompose(main: U64, start: int) -> U64:
    acc: U64 = main[start].copy()
    for k in range(1, LIMBS):
        acc = F.add_vec(acc, F.mul_vec(main[start + k], np.uint64(1 << (LIMB_BITS * k))))
    return acc


def refresh(main: U64, table: list[AssetRow]) -> U64:
    """Recompute every cell derived from the ones the attacker chose, as field elements (mod p): the scaled
    top limbs, the running USD values and net (their 16-bit limbs are the canonical representative's), the
    Poseidon2 leaf gadget, and the range and asset-table multiplicities. Weights and scales are kept as they
    are in the trace (an attacker may have edited them)."""
    n = main.shape[1]
    main[Col.EQ_TOP_SCALED] = F.mul_vec(main[Col.SCALE], main[Col.EQ + 3])
    main[Col.DEBT_TOP_SCALED] = F.mul_vec(main[Col.SCALE], main[Col.DEBT + 3])
    last = main[Col.LAST].tolist()
    for amount, weight, acc_col in ((Col.EQ, Col.WEQ, Col.ACC_EQ), (Col.DEBT, Col.WDEBT, Col.ACC_DEBT)):
        v = np.zeros(n, dtype=np.uint64)
        for k in range(LIMBS):
            v = F.add_vec(v, F.mul_vec(main[amount + k], main[weight + k]))
        acc, out = 0, []
        for i, x in enumerate(v.tolist()):
            acc = (acc + x) % P
            out.append(acc)
            if last[i] == 1:
                acc = 0
        main[acc_col : acc_col + LIMBS] = limbs(np.array(out, dtype=np.uint64))
    net = np.where(main[Col.LAST] == 1, F.sub_vec(_recompose(main, Col.ACC_EQ), _recompose(main, Col.ACC_DEBT)), 0)
    main[Col.NET : Col.NET + LIMBS] = limbs(net.astype(np.uint64))
    packed = F.add_vec(
        main[Col.ASSET],
        F.add_vec(
            F.mul_vec(main[Col.IDX], np.uint64(1 << commit.ASSET_SHIFT)),
            F.mul_vec(main[Col.CNT], np.uint64(1 << commit.COUNT_SHIFT)),
        ),
    )
    inputs = np.column_stack(
        [*main[Col.ID : Col.ID + 4], packed, _recompose(main, Col.EQ), _recompose(main, Col.DEBT), main[Col.SALT]]
    )
    main[GADGET.offset : GADGET.end] = GADGET.trace_columns(np.ascontiguousarray(inputs, dtype=np.uint64))
    inside = main[Col.ASSET] < len(table)
    mult = np.zeros(n, dtype=np.uint64)
    mult[: len(table)] = np.bincount(main[Col.ASSET][inside].astype(np.int64), minlength=len(table))
    main[Col.TABLE_MULT] = mult
    main[Col.RANGE_MULT] = range_multiplicities(main, check=False)
    return main


def forge(rows: BatchRows, table: list[AssetRow] = TABLE, edit: Callable[[U64], None] | None = None) -> U64:
    main = main_trace(rows, table, check=False)
    if edit is not None:
        edit(main)
    return refresh(main, table)


def trace_totals(main: U64, n_assets: int) -> tuple[list[list[int]], list[list[int]]]:
    """The per-asset limb totals of the trace's cells (what an attacker publishes to match a forged trace)."""
    out = []
    for start in (Col.EQ, Col.DEBT):
        held = [main[Col.ASSET] == a for a in range(n_assets)]
        out.append([[sum(main[start + k][h].tolist()) % P for k in range(LIMBS)] for h in held])
    return out[0], out[1]


def statement_of(
    main: U64,
    table: list[AssetRow] = TABLE,
    *,
    leaves: U64 | None = None,
    totals: tuple[list[list[int]], list[list[int]]] | None = None,
) -> SolvencyAir:
    """The public statement the attacker publishes: by default the leaves and totals of the forged trace."""
    words = np.ascontiguousarray(main[GADGET.digest_cols].T) if leaves is None else leaves
    eq, debt = trace_totals(main, len(table)) if totals is None else totals
    return make_air(table, words, eq, debt, STATEMENT)


def out_of_range(main: U64) -> set[int]:
    """Columns of the range-checked expressions that are not in [0, 2^16)."""
    bad = set()
    for col, mult in RANGE_EXPRS:
        vals = main[col] if mult == 1 else F.mul_vec(main[col], np.uint64(mult))
        if (vals >= np.uint64(1 << 16)).any():
            bad.add(col)
    return bad


def _names(air: SolvencyAir) -> list[list[str]]:
    """A name for every constraint, in the AIR's order (counted on a dummy frame)."""
    one = Val.base_scalar(3)
    dummy = Frame([one] * air.main_width, [one] * air.main_width, [one] * air.aux_width, [one] * air.aux_width,
                  [one], [one] * Pub.COUNT, [one] * Pub.COUNT, [one] * air.num_challenges)
    every = ["last-binary", "last-count", "eq-top-scale", "debt-top-scale", "net"]
    gadget = len(air.constraints(dummy).every_row) - len(every) - 4 - N_PAIRS - 3
    every += [f"poseidon2-{i}" for i in range(gadget)] + [f"leaf{k}" for k in range(4)]
    every += [f"range-pair-{p}" for p in range(N_PAIRS)] + ["range-table-inv", "row-inv", "table-inv"]
    transition = ["idx-step", "idx-reset", "cnt-same", *[f"id{k}-same" for k in range(4)], "acc-eq", "acc-debt",
                  "logup-step"]
    return [transition, every, ["first-idx", "first-acc-eq", "first-acc-debt", "first-logup"],
            ["last-is-last", "logup-sum"]]


def _frame(air: SolvencyAir, main: U64, aux: U64, challenges: list[tuple[int, int]]) -> Frame:
    """Every row at once: ``cur`` row i, ``nxt`` row i + 1 (wrapping; the caller masks the last row)."""
    n = main.shape[1]
    cur = [Val(np.ascontiguousarray(main[c])) for c in range(main.shape[0])]
    nxt = [Val(np.ascontiguousarray(np.roll(main[c], -1))) for c in range(main.shape[0])]
    aux_cur = [Val(np.ascontiguousarray(aux[c])) for c in range(aux.shape[0])]
    aux_nxt = [Val(np.ascontiguousarray(np.roll(aux[c], -1, axis=0))) for c in range(aux.shape[0])]
    periodic = [Val(np.resize(np.asarray(col, dtype=np.uint64), n)) for col in air.periodic_columns()]
    pub_cols = [np.asarray(c, dtype=np.uint64) for c in air.public_columns()]
    pub = [Val(np.ascontiguousarray(c)) for c in pub_cols]
    pub_nxt = [Val(np.ascontiguousarray(np.roll(c, -1))) for c in pub_cols]
    ch = [Val(np.tile(np.array([c], dtype=np.uint64), (n, 1))) for c in challenges]
    return Frame(cur, nxt, aux_cur, aux_nxt, periodic, pub, pub_nxt, ch)


def broken(air: SolvencyAir, main: U64, seed: int = 1) -> set[str]:
    """Names of the constraints ``main`` violates (on the rows each group holds on), at random challenges."""
    n = main.shape[1]
    rng = np.random.default_rng(seed)
    challenges = [(int(a) % P, int(b) % P) for a, b in rng.integers(0, 1 << 63, (air.num_challenges, 2))]
    aux = air.build_aux(main, challenges)
    groups = air.constraints(_frame(air, main, aux, challenges)).groups()
    rows_of = [slice(0, n - 1), slice(0, n), slice(0, 1), slice(n - 1, n)]
    out = set()
    for names, group, rows in zip(_names(air), groups, rows_of, strict=True):
        for name, c in zip(names, group, strict=True):
            d = c.as_ext()
            if d.shape[0] == 1:
                d = np.broadcast_to(d, (n, 2))
            if d[rows].any():
                out.add(name)
    return out


def assert_rejected(air: SolvencyAir, main: U64) -> None:
    """The cheating prover's proof of ``main`` for ``air``: the verifier must refuse it."""
    proof = prove(air, main, PARAMS, check=False, seed=11)
    with pytest.raises(VerificationError):
        verify(air, proof, PARAMS)


# --------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def honest() -> Honest:
    rows, where = build_rows(USERS)
    main = main_trace(rows, TABLE)
    air = statement_of(main)
    return rows, where, main, air, prove(air, main, PARAMS, seed=3)


@pytest.fixture(scope="module")
def round_dir(small_insecure_round: tuple[Path, Path]) -> tuple[Path, Path]:
    """A small round proven end to end, shared read-only with other files (tests/por/conftest.py); the tests
    that tamper with it work on `public_copy`."""
    return small_insecure_round


@pytest.fixture
def public_copy(round_dir: tuple[Path, Path], tmp_path: Path) -> Path:
    """A copy of the round's public files to tamper with."""
    dst = tmp_path / "round"
    shutil.copytree(round_dir[1], dst, ignore=shutil.ignore_patterns("private", "users"))
    return dst


def edit_round(d: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads((d / ROUND_FILE).read_text())
    fn(doc)
    (d / ROUND_FILE).write_text(json.dumps(doc, indent=2))


def rejected(d: Path) -> str:
    verdict = verify_round(d, allow_insecure_params=True)
    assert not verdict.ok
    assert verdict.reason
    return verdict.reason


def uids_with_rows(snap: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in (snap / "balances.csv").read_text().splitlines()[1:]:
        uid = line.split(",")[0]
        counts[uid] = counts.get(uid, 0) + 1
    return counts


# --------------------------------------------------------------------------------------------------
# happy paths: the same machinery accepts honest data


def test_control_honest_batch_verifies(honest: Honest) -> None:
    _, _, main, air, proof = honest
    assert broken(air, main) == set()
    assert out_of_range(main) == set()
    verify(air, proof, PARAMS)
    eq, debt = trace_totals(main, len(TABLE))
    verify_batch(proof, TABLE, np.ascontiguousarray(main[GADGET.digest_cols].T), eq, debt, STATEMENT, PARAMS)
    # refresh() is a faithful attacker's tool: on honest cells it recomputes the honest trace
    assert np.array_equal(refresh(main.copy(), TABLE), main)


def test_control_honest_round_and_user_proofs(round_dir: tuple[Path, Path]) -> None:
    snap, out = round_dir
    verdict = verify_round(out, allow_insecure_params=True)
    assert verdict.ok, verdict.reason
    doc = json.loads((out / ROUND_FILE).read_text())
    for uid, count in list(uids_with_rows(snap).items())[:5]:
        proof = make_user_proof(out, uid)
        assert len(proof["rows"]) == count
        v = verify_user_proof(json.loads(json.dumps(proof)), doc)
        assert v.ok, v.reason
    # the parameter policy: these test parameters are refused unless the caller opts in
    assert "below 100" in (verify_round(out).reason or "")


# --------------------------------------------------------------------------------------------------
# 1. negative balance


def test_negative_balance(honest: Honest) -> None:
    rows, where, _, _, _ = honest
    bad = copy.deepcopy(rows)
    bad.debt[where["alice"]] = P - 100_000_000  # "-1 BTC" of debt: would lower total debt and raise her net
    main = forge(bad)
    air = statement_of(main)
    assert broken(air, main) == {"logup-sum"}  # everything else was recomputed consistently
    assert Col.DEBT_TOP_SCALED in out_of_range(main)  # the top limb of p - 10^8 is far past the cap
    assert_rejected(air, main)
    # one limb "negative" instead: -1 for the lowest limb of Carol's USDT equity (Bob's keeps the limb total
    # publishable, below 2^48): the 16-bit range check itself
    bad.debt[where["alice"]] = 0
    main2 = main_trace(bad, TABLE, check=False)
    main2[Col.EQ, where["carol"]] = P - 1
    refresh(main2, TABLE)
    assert out_of_range(main2) == {Col.EQ}
    assert broken(statement_of(main2), main2) == {"logup-sum"}


# --------------------------------------------------------------------------------------------------
# 2. a value at or past 2^B, or past its asset's cap


@pytest.mark.parametrize(("asset", "value"), [(TINY, 1 << 63), (BTC, 1 << 50)], ids=["2^B", "asset-cap"])
def test_value_at_the_bound(honest: Honest, asset: int, value: int) -> None:
    rows, where, _, _, _ = honest
    bad = copy.deepcopy(rows)
    row = where["bob"] + [r[0] for r in USERS["bob"]].index(asset)
    bad.equity[row] = value - 1  # control: one below the bound is provable
    main_trace(bad, TABLE, check=True)
    bad.equity[row] = value
    with pytest.raises(BatchError, match="cap"):
        main_trace(bad, TABLE, check=True)
    main = forge(bad)
    air = statement_of(main)
    assert out_of_range(main) == {Col.EQ_TOP_SCALED}
    assert broken(air, main) == {"logup-sum"}
    assert_rejected(air, main)


# --------------------------------------------------------------------------------------------------
# 3. a sum that would wrap around the field


def test_accumulated_debt_that_would_wrap(honest: Honest) -> None:
    """17 rows of maximal BTC debt are worth about 16.1 * 2^60 micro-USD: past p, so mod p the debt would
    look like about 0.1 * 2^60, less than one row of collateral. The running sums are range-checked below
    2^61 on every row, so the accumulator cannot get there."""
    near_cap = (1 << 50) - 1
    per_row = near_cap * TABLE[BTC].debt_weights[0]
    assert 17 * per_row > P and (17 * per_row) % P < near_cap * TABLE[BTC].equity_weights[0]
    users = dict(USERS)
    users["mallory"] = [(BTC, near_cap, 0), *[(BTC, 0, near_cap)] * 17]
    rows, where = build_rows(users)
    main = forge(rows)
    last = where["mallory"] + 17
    net = int(_recompose(main, Col.NET)[last])
    assert 0 <= net < 1 << 60  # mod p the user looks solvent...
    air = statement_of(main)
    assert Col.ACC_DEBT + 3 in out_of_range(main)  # ...but the accumulator left its range on the way
    assert broken(air, main) == {"logup-sum"}
    assert_rejected(air, main)
    # per-asset totals cannot wrap either: 16-bit limbs over < 2^23 rows stay below 2^39 < 2^48 (the
    # verifier's bound on a published limb total) < p
    with pytest.raises(ValueError, match="2\\^48"):
        eq, debt = trace_totals(main, len(TABLE))
        debt[BTC][0] += P
        statement_of(main, totals=(eq, debt))


# --------------------------------------------------------------------------------------------------
# 4. a user's net USD value below zero


def test_insolvent_user(honest: Honest) -> None:
    rows, where, _, _, _ = honest
    bad = copy.deepcopy(rows)
    bad.equity[where["alice"]] = 1_000_000  # 0.01 BTC = 970 USD of collateral for 1000 USDT of debt
    with pytest.raises(BatchError, match="insolvent"):
        main_trace(bad, TABLE, check=True)
    main = forge(bad)
    air = statement_of(main)
    assert out_of_range(main) == {Col.NET + 3}  # net = p - 30 USD: its top limb is past 2^15
    assert broken(air, main) == {"logup-sum"}
    assert_rejected(air, main)


# --------------------------------------------------------------------------------------------------
# 5. a published total that differs from the rows by one unit


def test_total_off_by_one_unit(honest: Honest) -> None:
    _, _, main, _, proof = honest
    eq, debt = trace_totals(main, len(TABLE))
    eq[BTC][0] += 1
    air = statement_of(main, totals=(eq, debt))
    assert broken(air, main) == {"logup-sum"}
    assert_rejected(air, main)
    with pytest.raises(VerificationError):  # nor does the honest proof verify against the changed total
        verify(air, proof, PARAMS)
    # the same integer with another limb split is not the proven statement either
    eq[BTC][0] += (1 << 16) - 1
    eq[BTC][1] -= 1
    with pytest.raises(VerificationError):
        verify(statement_of(main, totals=(eq, debt)), proof, PARAMS)


# --------------------------------------------------------------------------------------------------
# 6. a row left out of the sums but present in the tree


def test_row_in_tree_but_out_of_sums_via_an_asset_outside_the_table(honest: Honest) -> None:
    """Bob's 0.1 BTC row is given asset index 3 (no such asset) but BTC's weights and scale, so it still
    backs his solvency; its leaf (asset 3) is in the leaf list; no asset's total includes it."""
    rows, where, _, _, _ = honest
    row = where["bob"] + 1

    def edit(main: U64) -> None:
        main[Col.ASSET, row] = len(TABLE)

    main = forge(rows, edit=edit)
    air = statement_of(main)  # totals over the table's assets only: the row is in none
    assert broken(air, main) == {"logup-sum"}
    assert_rejected(air, main)


def test_row_in_tree_but_its_cells_out_of_sums(honest: Honest) -> None:
    """The published leaf is Alice's real 1.5 BTC row; the summed cells say 0."""
    rows, where, honest_main, _, _ = honest
    bad = copy.deepcopy(rows)
    bad.equity[where["alice"]] = 0
    bad.debt[where["alice"] + 1] = 0  # keep her solvent
    main = forge(bad)
    air = statement_of(main, leaves=np.ascontiguousarray(honest_main[GADGET.digest_cols].T))
    assert broken(air, main) == {"leaf0", "leaf1", "leaf2", "leaf3"}
    assert_rejected(air, main)


def test_file_leaf_outside_every_batch(public_copy: Path) -> None:
    records, _ = read_leaves(public_copy / LEAVES_FILE)
    words = np.frombuffer(records, dtype="<u8").reshape(-1, 4)
    extra = np.concatenate([words, words[:1] + 1]).astype(np.uint64)
    sha = write_leaves(public_copy / LEAVES_FILE, extra)
    root = commit.build_tree(np.ascontiguousarray(extra, dtype="<u8").tobytes())[-1].hex()

    def fix(doc: dict[str, Any]) -> None:
        doc["leaves"].update(sha256=sha, count=len(extra), root=root)

    edit_round(public_copy, fix)
    assert "the batches cover" in rejected(public_copy)


# --------------------------------------------------------------------------------------------------
# 7. a row in the sums but not in the tree


def test_row_in_sums_but_not_in_the_published_leaves(honest: Honest) -> None:
    _, _, main, _, proof = honest
    words = np.ascontiguousarray(main[GADGET.digest_cols].T)
    eq, debt = trace_totals(main, len(TABLE))
    other = words.copy()
    other[5] = [1, 2, 3, 4]  # the published list holds something else where the summed row's leaf is
    with pytest.raises(VerificationError):
        verify_batch(proof, TABLE, other, eq, debt, STATEMENT, PARAMS)


def test_file_leaf_replaced(public_copy: Path) -> None:
    records, _ = read_leaves(public_copy / LEAVES_FILE)
    words = np.frombuffer(records, dtype="<u8").reshape(-1, 4).copy()
    words[3, 0] ^= 1
    sha = write_leaves(public_copy / LEAVES_FILE, words)
    root = commit.build_tree(np.ascontiguousarray(words, dtype="<u8").tobytes())[-1].hex()

    def fix(doc: dict[str, Any]) -> None:
        doc["leaves"].update(sha256=sha, root=root)

    edit_round(public_copy, fix)
    assert "is rejected" in rejected(public_copy)


def test_file_leaf_word_not_canonical(public_copy: Path) -> None:
    """A 64-bit word w + p encodes the same field element as w: the batch proofs (which see field elements)
    would hold for two leaf files with two roots. Only canonical words (< p) are accepted."""
    records, _ = read_leaves(public_copy / LEAVES_FILE)
    words = np.frombuffer(records, dtype="<u8").reshape(-1, 4).copy()
    words[7, 2] = np.uint64(P + 5)
    sha = write_leaves(public_copy / LEAVES_FILE, words)
    root = commit.build_tree(np.ascontiguousarray(words, dtype="<u8").tobytes())[-1].hex()
    edit_round(public_copy, lambda doc: doc["leaves"].update(sha256=sha, root=root))
    assert "not a canonical field element" in rejected(public_copy)


# --------------------------------------------------------------------------------------------------
# 8. the same row shown to two users


def test_same_row_shown_to_two_users(round_dir: tuple[Path, Path]) -> None:
    snap, out = round_dir
    doc = json.loads((out / ROUND_FILE).read_text())
    uid_a, uid_b = list(uids_with_rows(snap))[:2]
    a, b = make_user_proof(out, uid_a), make_user_proof(out, uid_b)
    # B's file showing A's rows (A's leaves, salts and paths) under B's uid and salt
    forged = copy.deepcopy(a)
    forged["uid"], forged["user_salt"] = b["uid"], b["user_salt"]
    v = verify_user_proof(forged, doc)
    assert not v.ok and "leaf does not match" in (v.reason or "")
    # ...or keeping A's salt: the id is still B's uid hashed, not A's
    forged["user_salt"] = a["user_salt"]
    assert not verify_user_proof(forged, doc).ok
    # one of A's rows appended to B's own
    forged = copy.deepcopy(b)
    forged["rows"].append(copy.deepcopy(a["rows"][0]))
    assert not verify_user_proof(forged, doc).ok


# --------------------------------------------------------------------------------------------------
# 9. a user's row count that hides a row


def test_row_count_hiding_a_row_in_circuit(honest: Honest) -> None:
    """Bob has 3 rows; the leaves (which users check) are made to say count 2 on all three, so his proof file
    could show idx 0, 1 of count 2 and leave the third out."""
    rows, where, _, _, _ = honest
    b = where["bob"]

    def edit(main: U64) -> None:
        main[Col.CNT, b : b + 3] = 2

    main = forge(rows, edit=edit)
    air = statement_of(main)
    assert broken(air, main) == {"last-count"}
    assert_rejected(air, main)


def test_row_count_hiding_a_row_in_the_user_file(round_dir: tuple[Path, Path]) -> None:
    snap, out = round_dir
    doc = json.loads((out / ROUND_FILE).read_text())
    uid = next(u for u, c in uids_with_rows(snap).items() if c >= 2)
    proof = make_user_proof(out, uid)
    dropped = copy.deepcopy(proof)
    dropped["rows"].pop()
    v = verify_user_proof(dropped, doc)
    assert not v.ok and "leaves say the user has" in (v.reason or "")
    for row in dropped["rows"]:
        row["count"] -= 1  # the count lowered to match: the leaves were made with the true count
    v = verify_user_proof(dropped, doc)
    assert not v.ok and "leaf does not match" in (v.reason or "")
    gap = copy.deepcopy(proof)
    gap["rows"] = gap["rows"][1:]  # idx 0 left out
    assert not verify_user_proof(gap, doc).ok


# --------------------------------------------------------------------------------------------------
# 10. a proof for one root checked against another


def test_proof_for_one_root_checked_against_another(honest: Honest, round_dir: tuple[Path, Path]) -> None:
    _, _, main, _, proof = honest
    eq, debt = trace_totals(main, len(TABLE))
    rows2, _ = build_rows(USERS, seed=8)  # another round's leaves (other ids and salts, same balances)
    words2 = np.ascontiguousarray(main_trace(rows2, TABLE)[GADGET.digest_cols].T)
    with pytest.raises(VerificationError):
        verify_batch(proof, TABLE, words2, eq, debt, STATEMENT, PARAMS)
    with pytest.raises(VerificationError):  # the right leaves but another batch's place in the round
        verify_batch(proof, TABLE, np.ascontiguousarray(main[GADGET.digest_cols].T), eq, debt,
                     [*STATEMENT[:2], 1, N], PARAMS)
    snap, out = round_dir
    doc = json.loads((out / ROUND_FILE).read_text())
    user = make_user_proof(out, next(iter(uids_with_rows(snap))))
    other = copy.deepcopy(doc)
    other["leaves"]["root"] = hashlib.sha256(b"another round").hexdigest()
    v = verify_user_proof(user, other)
    assert not v.ok and "root" in (v.reason or "")
    moved = copy.deepcopy(user)
    moved["round"]["leaf_root"] = other["leaves"]["root"]
    assert not verify_user_proof(moved, other).ok  # the paths do not lead there


# --------------------------------------------------------------------------------------------------
# 11. a tampered proof byte anywhere


def test_tampered_proof_bytes(honest: Honest) -> None:
    _, _, main, _, proof = honest
    words = np.ascontiguousarray(main[GADGET.digest_cols].T)
    eq, debt = trace_totals(main, len(TABLE))
    rng = np.random.default_rng(2026)
    fixed = [0, 5, 9, 40, 72, 110, 160, len(proof) // 2, len(proof) - 9, len(proof) - 1]
    positions = sorted({*fixed, *rng.integers(0, len(proof), 6).tolist()})
    for pos in positions:
        bad = bytearray(proof)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(VerificationError):
            verify_batch(bytes(bad), TABLE, words, eq, debt, STATEMENT, PARAMS)
    for bad_proof in (proof[:-1], proof + b"\x00", b""):
        with pytest.raises(VerificationError):
            verify_batch(bad_proof, TABLE, words, eq, debt, STATEMENT, PARAMS)


def test_file_tampered_proof_with_its_hash_updated(public_copy: Path) -> None:
    path = public_copy / "batches" / "batch-00000.proof"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x10
    path.write_bytes(bytes(data))
    edit_round(public_copy, lambda doc: doc["batches"][0].update(sha256=hashlib.sha256(data).hexdigest()))
    assert "is rejected" in rejected(public_copy)


# --------------------------------------------------------------------------------------------------
# 12. a proof made with different prices than published


def test_prices_other_than_published(honest: Honest, public_copy: Path) -> None:
    _, _, main, _, proof = honest
    words = np.ascontiguousarray(main[GADGET.digest_cols].T)
    eq, debt = trace_totals(main, len(TABLE))
    cheaper = [asset_row(8, "96999", "1", 50), *TABLE[1:]]
    with pytest.raises(VerificationError):
        verify_batch(proof, cheaper, words, eq, debt, STATEMENT, PARAMS)
    no_haircut = [TABLE[0], asset_row(6, "1", "1", 56), TABLE[2]]
    with pytest.raises(VerificationError):
        verify_batch(proof, no_haircut, words, eq, debt, STATEMENT, PARAMS)
    # in a round: the proof was made with the prices round.json had; publish others
    doc = json.loads((public_copy / ROUND_FILE).read_text())
    price = doc["assets"][0]["price_usd"]
    edit_round(public_copy, lambda d: d["assets"][0].update(price_usd=str(float(price) * 1.01)))
    assert "is rejected" in rejected(public_copy)


@pytest.mark.parametrize(
    ("field", "value"),
    [("decimals", 1), ("haircut", "0.5"), ("amount_bits", -1)],
    ids=["decimals", "haircut", "amount-bits"],
)
def test_other_asset_parameters_than_proven(public_copy: Path, field: str, value: Any) -> None:
    def change(doc: dict[str, Any]) -> None:
        a = doc["assets"][0]
        a[field] = a[field] + value if isinstance(value, int) else value

    edit_round(public_copy, change)
    assert rejected(public_copy)


# --------------------------------------------------------------------------------------------------
# 13. a verifier fed a proof naming an unknown circuit digest


def test_unknown_circuit_digest(public_copy: Path) -> None:
    edit_round(public_copy, lambda d: d["circuit"].update(digest="00" * 32))
    assert "does not know" in rejected(public_copy)


def test_proof_naming_another_circuit(honest: Honest, public_copy: Path) -> None:
    _, _, _, air, proof = honest
    from bastion.stark.air.air import circuit_digest

    digest = circuit_digest(air)
    at = proof.find(digest)
    assert at > 0
    other = proof[:at] + bytes(32) + proof[at + 32 :]
    with pytest.raises(VerificationError, match="unknown circuit digest"):
        verify(air, other, PARAMS)
    path = public_copy / "batches" / "batch-00000.proof"
    data = path.read_bytes()
    digest = bytes.fromhex(json.loads((public_copy / ROUND_FILE).read_text())["circuit"]["digest"])  # solvency/2
    at = data.find(digest)
    assert at > 0
    data = data[:at] + bytes(32) + data[at + 32 :]
    path.write_bytes(data)
    edit_round(public_copy, lambda doc: doc["batches"][0].update(sha256=hashlib.sha256(data).hexdigest()))
    assert "unknown circuit digest" in rejected(public_copy)


def test_circuit_digest_names_the_constraint_system() -> None:
    """A circuit with one constraint left out (here the one tying a user's count to their last row) has the
    same name, widths and degree; its digest must still differ, so a verifier refuses its proofs by name."""

    class Weakened(SolvencyAir):
        def constraints(self, f: Frame) -> Any:
            c = super().constraints(f)
            c.every_row[1] = c.every_row[1] * 0
            return c

    rows, _ = build_rows(USERS)
    main = main_trace(rows, TABLE)
    eq, debt = (np.array(t, dtype=object) for t in trace_totals(main, len(TABLE)))
    real, weak = statement_of(main), Weakened(TABLE, main[GADGET.digest_cols], eq, debt, STATEMENT)
    from bastion.stark.air.air import circuit_digest

    assert real.shape_descriptor().split(";system=")[0] == weak.shape_descriptor().split(";system=")[0]
    assert circuit_digest(real) != circuit_digest(weak)


def test_user_proof_naming_another_circuit(round_dir: tuple[Path, Path]) -> None:
    snap, out = round_dir
    doc = json.loads((out / ROUND_FILE).read_text())
    user = make_user_proof(out, next(iter(uids_with_rows(snap))))
    user["round"]["circuit_digest"] = "00" * 32
    assert not verify_user_proof(user, doc).ok


# --------------------------------------------------------------------------------------------------
# the verifier's parsing of round.json


def _sym(doc: dict[str, Any], a: int = 0) -> str:
    return str(doc["assets"][a]["asset"])


def test_published_total_one_unit_off(public_copy: Path) -> None:
    doc = json.loads((public_copy / ROUND_FILE).read_text())
    dec = doc["assets"][0]["decimals"]
    units = int(doc["assets"][0]["total_equity_units"]) + 1
    whole, frac = divmod(units, 10**dec)

    def change(d: dict[str, Any]) -> None:
        d["assets"][0]["total_equity"] = f"{whole}.{str(frac).rjust(dec, '0')}" if dec else str(whole)

    edit_round(public_copy, change)
    assert "total_equity" in rejected(public_copy)


def test_published_totals_consistently_one_unit_off(public_copy: Path) -> None:
    """The attacker edits an asset's equity, its units and its net consistently (the batches' totals are hidden,
    so there is nothing else to edit): the aggregation proof refuses."""
    def change(d: dict[str, Any]) -> None:
        a = d["assets"][0]
        dec = a["decimals"]
        units = int(a["total_equity_units"]) + 1
        net = units - int(a["total_debt_units"])
        a.update(total_equity=units_to_decimal(units, dec), total_equity_units=str(units),
                 net_liabilities=units_to_decimal(net, dec))

    edit_round(public_copy, change)
    assert "aggregation proof in aggregate.proof is rejected" in rejected(public_copy)


@pytest.mark.parametrize("bad", [-1, "00" * 32 + "00", "0x" + "00" * 31, "AB" * 32, "ff" * 32, "٣" * 64, None, [1]])
def test_totals_commitment_malformed(public_copy: Path, bad: Any) -> None:
    """64 lowercase hex of 4 canonical words, or refused by name ("ff" * 32: words >= p, a second encoding)."""
    edit_round(public_copy, lambda d: d["batches"][0].__setitem__("totals_commitment", bad))
    assert "totals_commitment" in rejected(public_copy)


def test_per_batch_totals_are_refused_in_round_json(public_copy: Path) -> None:
    """A bastion-round/3 file carrying a batch's totals (the version 2 leak) is refused, not ignored."""
    edit_round(public_copy, lambda d: d["batches"][0].__setitem__("totals", {_sym(d): {"equity_limbs": [1, 0, 0, 0]}}))
    assert "per-batch totals" in rejected(public_copy)


@pytest.mark.parametrize("text", ["-0.5", "²", "1e5", "", " 1", "0x10", "1.2.3"])
def test_published_totals_odd_strings(public_copy: Path, text: str) -> None:
    edit_round(public_copy, lambda d: d["assets"][0].update(total_debt=text))
    assert "total_debt" in rejected(public_copy)  # malformed, or published other than proven


def test_duplicate_asset(public_copy: Path) -> None:
    edit_round(public_copy, lambda d: d["assets"][1].update(asset=_sym(d)))
    assert "listed twice" in rejected(public_copy)


@pytest.mark.parametrize("change", ["gap", "overlap", "short", "reindex", "outside"])
def test_batch_tiling(public_copy: Path, change: str) -> None:
    def edit(d: dict[str, Any]) -> None:
        b = d["batches"][0]
        if change == "gap":
            b["leaf_start"] = 1
        elif change == "overlap":
            d["batches"].append(copy.deepcopy(b) | {"index": 1})
        elif change == "short":
            b["rows"] -= 1
        elif change == "reindex":
            b["index"] = 1
        else:
            b["file"] = "../../etc/passwd"

    edit_round(public_copy, edit)
    assert rejected(public_copy)


def test_stark_params_other_than_the_proofs(public_copy: Path) -> None:
    edit_round(public_copy, lambda d: d["circuit"]["stark_params"].update(num_queries=9))
    assert "different STARK parameters" in rejected(public_copy)


def test_user_proof_asset_must_be_the_rounds(round_dir: tuple[Path, Path]) -> None:
    """The leaf commits to the asset *index*; the symbol and decimals a user is shown come from their file.
    Checked against round.json, they must be that index's, or an exchange could show a row as "BTC" while it
    sits (and is valued and summed) under a cheap asset's index."""
    snap, out = round_dir
    doc = json.loads((out / ROUND_FILE).read_text())
    user = make_user_proof(out, next(iter(uids_with_rows(snap))))
    row = user["rows"][0]
    other = next(a for a in doc["assets"] if a["index"] != row["asset_index"])
    relabelled = copy.deepcopy(user)
    relabelled["rows"][0]["asset"] = other["asset"]
    assert verify_user_proof(relabelled, None).ok  # alone, the file cannot know the round's asset table
    v = verify_user_proof(relabelled, doc)
    assert not v.ok and "asset_index" in (v.reason or "")
    redecimal = copy.deepcopy(user)
    redecimal["rows"][0]["decimals"] += 1
    units = int(redecimal["rows"][0]["equity_units"])
    from bastion.por.user_proof import format_units

    row2 = redecimal["rows"][0]
    row2["equity"] = format_units(units, row2["decimals"])
    row2["debt"] = format_units(int(row2["debt_units"]), row2["decimals"])
    assert verify_user_proof(redecimal, None).ok
    assert not verify_user_proof(redecimal, doc).ok
    unknown = copy.deepcopy(doc)
    unknown["assets"] = [a for a in doc["assets"] if a["index"] != row["asset_index"]]
    assert not verify_user_proof(user, unknown).ok
