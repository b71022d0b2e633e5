"""The snapshot loader: exact values, every error named by file/row/field, nothing half-loaded, insolvency."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from bastion.por.format.amount_column import parse_column
from bastion.por.format.amounts import parse_units
from bastion.por.liabilities import snapshot as snap
from bastion.por.liabilities.snapshot import SnapshotError, amount_bits, load_snapshot
from bastion.sim.liabilities import simulate_liabilities

ASSETS = """asset,decimals,price_usd,haircuts
BTC,8,100000,0:0.9;1000000:0.8
ETH,8,4000,
USDT,6,1,0:1
"""
HEADER = "uid,asset,equity,debt\n"


def write(tmp: Path, balances: str, assets: str = ASSETS) -> Path:
    (tmp / "assets.csv").write_text(assets)
    (tmp / "balances.csv").write_text(balances)
    return tmp


def issues_of(tmp: Path, balances: str, assets: str = ASSETS, **kw: int) -> list[snap.SnapshotIssue]:
    with pytest.raises(SnapshotError) as info:
        load_snapshot(write(tmp, balances, assets), **kw)
    assert str(info.value).startswith("invalid snapshot")
    return info.value.errors


# ------------------------------------------------------------------------------------------ amount_bits
def brute_amount_bits(decimals: int, price: str) -> int:
    unit = math.ceil(Fraction(Decimal(price)) * 10**6 / 10**decimals)
    return max(b for b in range(65) if 2**b * unit <= 2**60)


@pytest.mark.parametrize(
    ("decimals", "price"),
    [
        (8, "100000"),
        (8, "96250.5"),
        (18, "4000"),
        (9, "4000"),
        (6, "1"),
        (2, "0.00002213"),
        (0, "1"),
        (8, "0.3187"),
        (0, "999999.99"),
        (3, "1024"),
    ],
)
def test_amount_bits_is_the_largest_safe_cap(decimals: int, price: str) -> None:
    bits = amount_bits(decimals, price)
    assert bits == brute_amount_bits(decimals, price)
    unit = math.ceil(Fraction(Decimal(price)) * 10**6 / 10**decimals)
    assert (2**bits - 1) * unit < 2**60  # the largest amount allowed cannot reach 2^60 micro-USD
    assert bits == 64 or 2 ** (bits + 1) * unit > 2**60


def test_amount_bits_known_values_and_limits() -> None:
    assert amount_bits(8, "100000") == 50  # one satoshi = 1000 micro-USD: 2^50 sat = 11.2M BTC
    assert amount_bits(18, "4000") == 60  # one wei is < 1 micro-USD, still rounded up to 1: 1.15 ETH cap
    with pytest.raises(ValueError):
        amount_bits(0, "2000000000000000")  # one unit worth 2^60 micro-USD or more: nothing fits
    with pytest.raises(ValueError):
        amount_bits(8, "0")


# ---------------------------------------------------------------------------------------------- happy path
def test_loads_exact_values_sorted_by_user_and_asset(tmp_path: Path) -> None:
    s = load_snapshot(
        write(
            tmp_path,
            HEADER
            + "bob,USDT,10.5,0\n"
            + "alice,ETH,0.00000001,0\n"
            + "bob,BTC,1.23456789,0.5\n"
            + "alice,BTC,21,0\n"
            + "carol,USDT,0.000001000000000000,0\n",  # zeros past 6 decimals are exact: accepted
        )
    )
    assert [a.symbol for a in s.assets] == ["BTC", "ETH", "USDT"]
    assert [a.index for a in s.assets] == [0, 1, 2]
    btc, eth, usdt = s.assets
    assert btc.haircut == Decimal("0.9") and eth.haircut == 1 and usdt.haircut == 1
    assert [(t.threshold_usd, t.weight) for t in btc.tiers] == [(0, Decimal("0.9")), (1000000, Decimal("0.8"))]
    assert btc.unit_price_micro_usd == 1000 and eth.unit_price_micro_usd == 40
    assert btc.amount_bits == 50 and usdt.amount_bits == 60
    assert s.uids.to_pylist() == ["alice", "bob", "carol"]
    assert s.user_id.tolist() == [0, 0, 1, 1, 2]
    assert s.asset.tolist() == [0, 1, 0, 2, 2]
    assert s.equity.dtype == np.uint64 and s.debt.dtype == np.uint64 and s.asset.dtype == np.int16
    assert s.equity.tolist() == [21 * 10**8, 1, 123456789, 10_500_000, 1]
    assert s.debt.tolist() == [0, 0, 50_000_000, 0, 0]
    assert s.row_start.tolist() == [0, 2, 4] and s.row_count.tolist() == [2, 2, 1]
    assert [(t.equity, t.debt, t.net) for t in s.totals] == [
        (21 * 10**8 + 123456789, 50_000_000, 21 * 10**8 + 73456789),
        (1, 0, 1),
        (10_500_001, 0, 10_500_001),
    ]
    assert s.insolvent_users == []
    assert s.user_id_of("bob") == 1 and s.user_id_of("dave") is None and s.user_id_of("") is None
    assert s.uid_of(2) == "carol"
    assert s.equity[s.rows_of(1)].tolist() == [123456789, 10_500_000]


def test_blank_lines_are_ignored_and_keep_row_numbers(tmp_path: Path) -> None:
    errors = issues_of(tmp_path, HEADER + "a,BTC,1,0\n\n\nb,DOGE,1,0\n")
    assert [(e.row, e.field) for e in errors] == [(5, "asset")]
    s = load_snapshot(write(tmp_path, HEADER + "a,BTC,1,0\n\nb,ETH,2,0\n\n"))
    assert s.n_rows == 2


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("row", "field", "fragment"),
    [
        ("x,DOGE,1,0", "asset", "unknown asset 'DOGE'"),
        ("x,btc,1,0", "asset", "unknown asset 'btc'"),
        ("x,BTC,-1,0", "equity", "negative amount '-1'"),
        ("x,BTC,0,-0.5", "debt", "negative amount"),
        ("x,BTC,1e5,0", "equity", "malformed amount '1e5'"),
        ("x,BTC,,0", "equity", "malformed amount ''"),
        ("x,BTC,1.,0", "equity", "malformed"),
        ("x,BTC,.5,0", "equity", "malformed"),
        ("x,BTC,1.2.3,0", "equity", "malformed"),
        ('x,BTC,"1,5",0', "equity", "malformed"),
        ("x,BTC, 1,0", "equity", "malformed"),
        ("x,BTC,+1,0", "equity", "malformed"),
        ("x,BTC,0,0x10", "debt", "malformed"),
        ("x,BTC,0.000000001,0", "equity", "more than the 8 decimals BTC allows"),
        ("x,USDT,0,1.0000001", "debt", "more than the 6 decimals USDT allows"),
        ("x,BTC,11258999.06842624,0", "equity", "at or above the cap for BTC: 2^50 base units"),
        ("x,BTC,99999999999999999999999999,0", "equity", "declare fewer decimals for BTC"),
        (",BTC,1,0", "uid", "empty uid"),
        (" x,BTC,1,0", "uid", "leading or trailing spaces"),
    ],
)
def test_each_bad_row_is_named_by_file_row_and_field(tmp_path: Path, row: str, field: str, fragment: str) -> None:
    balances = HEADER + "a,BTC,1,0\nb,ETH,2,0\n" + row + "\nc,USDT,3,0\n"
    errors = issues_of(tmp_path, balances)
    assert len(errors) == 1, errors
    (e,) = errors
    assert (e.file, e.row, e.field) == ("balances.csv", 4, field)  # header 1, two good rows, then this one
    assert fragment in e.message, e.message
    assert f"balances.csv, row 4, field {field}: " in str(e)


def test_cap_is_exclusive_and_named_in_the_asset_units(tmp_path: Path) -> None:
    cap = 2**50  # BTC at 100000 USD with 8 decimals
    just_below = f"{(cap - 1) // 10**8}.{(cap - 1) % 10**8:08d}"
    at_cap = f"{cap // 10**8}.{cap % 10**8:08d}"
    s = load_snapshot(write(tmp_path, HEADER + f"a,BTC,{just_below},{just_below}\n"))
    assert int(s.equity[0]) == int(s.debt[0]) == cap - 1
    (e,) = issues_of(tmp_path, HEADER + f"a,BTC,{at_cap},0\n")
    assert f"= {at_cap} BTC" in e.message and "fewer decimals" in e.message


def test_duplicate_uid_asset_names_both_rows(tmp_path: Path) -> None:
    errors = issues_of(tmp_path, HEADER + "a,BTC,1,0\nb,BTC,1,0\na,ETH,1,0\na,BTC,2,0\n")
    assert [(e.file, e.row, e.field) for e in errors] == [("balances.csv", 5, "uid,asset")]
    assert "first on row 2" in errors[0].message and "'a'" in errors[0].message


def test_wrong_number_of_fields_is_named_by_row(tmp_path: Path) -> None:
    errors = issues_of(tmp_path, HEADER + "a,BTC,1,0\nb,BTC,1\nc,BTC,1,0,7\n")
    assert [(e.row, e.message) for e in errors] == [
        (3, "expected 4 fields, found 3"),
        (4, "expected 4 fields, found 5"),
    ]


@pytest.mark.parametrize(
    ("header", "field", "fragment"),
    [
        ("uid,asset,equty,debt\n", "equty", "unknown column"),
        ("uid,asset,equity\n", "debt", "missing column 'debt'"),
        ("uid,asset,equity,debt,debt\n", "debt", "appears twice"),
    ],
)
def test_bad_balances_header(tmp_path: Path, header: str, field: str, fragment: str) -> None:
    errors = issues_of(tmp_path, header + "a,BTC,1,0\n")
    assert errors[0].file == "balances.csv" and errors[0].row == 1 and errors[0].field == field
    assert fragment in errors[0].message


def test_columns_in_any_order_and_byte_order_mark(tmp_path: Path) -> None:
    s = load_snapshot(write(tmp_path, "\ufeffdebt,equity,asset,uid\n0.5,2,ETH,a\n"))
    assert s.equity.tolist() == [2 * 10**8] and s.debt.tolist() == [5 * 10**7]


@pytest.mark.parametrize(
    ("assets", "row", "field", "fragment"),
    [
        ("asset,decimals,price\nBTC,8,1\n", 1, "price", "unknown column"),
        ("asset,decimals,price_usd\nBTC,8,0\n", 2, "price_usd", "price > 0"),
        ("asset,decimals,price_usd\nBTC,8,-5\n", 2, "price_usd", "price > 0"),
        ("asset,decimals,price_usd\nBTC,8,1e5\n", 2, "price_usd", "not a decimal"),
        ("asset,decimals,price_usd\nBTC,eight,1\n", 2, "decimals", "whole number"),
        ("asset,decimals,price_usd\nBTC,19,1\n", 2, "decimals", "at most 18"),
        ("asset,decimals,price_usd\nBTC,8,1\nBTC,8,2\n", 3, "asset", "duplicate asset 'BTC' (first on row 2)"),
        ("asset,decimals,price_usd\n,8,1\n", 2, "asset", "empty"),
        ("asset,decimals,price_usd,haircuts\nBTC,8,1,0:1.2\n", 2, "haircuts", "[0, 1]"),
        ("asset,decimals,price_usd,haircuts\nBTC,8,1,10:1\n", 2, "haircuts", "start at 0"),
        ("asset,decimals,price_usd,haircuts\nBTC,8,1,0:0.9;5:0.95\n", 2, "haircuts", "must not increase"),
        ("asset,decimals,price_usd,haircuts\nBTC,8,1,0:1;0:0.9\n", 2, "haircuts", "thresholds must increase"),
        ("asset,decimals,price_usd,haircuts\nBTC,8,1,0=1\n", 2, "haircuts", "THRESHOLD_USD:WEIGHT"),
        ("asset,decimals,price_usd\nBTC,0,2000000000000000\n", 2, "price_usd", "use more decimals"),
        ("asset,decimals,price_usd\nBTC,8\n", 2, None, "expected 3 fields, found 2"),
    ],
)
def test_bad_assets_file(tmp_path: Path, assets: str, row: int, field: str | None, fragment: str) -> None:
    errors = issues_of(tmp_path, HEADER + "a,BTC,1,0\n", assets)
    assert (errors[0].file, errors[0].row, errors[0].field) == ("assets.csv", row, field)
    assert fragment in errors[0].message


def test_too_many_assets(tmp_path: Path) -> None:
    assets = "asset,decimals,price_usd\n" + "".join(f"A{i},8,1\n" for i in range(1025))
    errors = issues_of(tmp_path, HEADER + "a,A0,1,0\n", assets)
    assert "at most 1024" in errors[0].message


def test_missing_or_ambiguous_balances_file(tmp_path: Path) -> None:
    (tmp_path / "assets.csv").write_text(ASSETS)
    with pytest.raises(SnapshotError, match=r"no balances\.csv or balances\.parquet"):
        load_snapshot(tmp_path)
    (tmp_path / "balances.csv").write_text(HEADER)
    pq.write_table(
        pa.table({"uid": ["a"], "asset": ["BTC"], "equity": ["1"], "debt": ["0"]}), tmp_path / "balances.parquet"
    )
    with pytest.raises(SnapshotError, match="keep one"):
        load_snapshot(tmp_path)


def test_errors_are_collected_up_to_the_limit_then_the_load_stops(tmp_path: Path) -> None:
    bad = "".join(f"u{i},BTC,-{i},0\n" for i in range(100))
    errors = issues_of(tmp_path, HEADER + bad)
    assert len(errors) == 20 and [e.row for e in errors] == list(range(2, 22))
    with pytest.raises(SnapshotError) as info:
        load_snapshot(tmp_path, max_errors=3)
    assert len(info.value.errors) == 3 and info.value.truncated
    assert "there may be more" in str(info.value)


def test_a_bad_last_row_fails_the_whole_multi_block_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # small blocks: rows span many batches, and row numbers must carry across them
    monkeypatch.setattr(snap, "_BLOCK_BYTES", 1 << 12)
    good = "".join(f"user{i:05d},{('BTC', 'ETH', 'USDT')[i % 3]},{i}.5,0\n" for i in range(5000))
    errors = issues_of(tmp_path, HEADER + good + "late,BTC,1,oops\n" + good[:40])
    assert [(e.row, e.field) for e in errors] == [(5002, "debt")]
    s = load_snapshot(write(tmp_path, HEADER + good))
    assert s.n_rows == 5000 and s.n_users == 5000


def test_insolvent_users_are_reported_with_exact_numbers(tmp_path: Path) -> None:
    assets = "asset,decimals,price_usd,haircuts\nALT,8,0.7,0:0.1\nUSD,4,1,0:1\nBTC,8,100000,0:0.9\n"
    balances = (
        HEADER
        # 1 ALT * 0.7 * 0.1 = 0.07 exactly; a float product says 0.06999999999999999 and would flag her
        + "exact,ALT,1,0\nexact,USD,0,0.07\n"
        + "short,BTC,1,0\nshort,USD,0,90000.01\n"  # collateral 90000, debt 90000.01
        + "even,BTC,1,0\neven,USD,0,90000\n"  # equality is solvent
        + "self,BTC,1,0.95\n"  # debt in the same asset it holds: 90000 vs 95000
        + "rich,BTC,3,0\n"
    )
    s = load_snapshot(write(tmp_path, balances, assets))
    found = {u.uid: u for u in s.insolvent_users}
    assert set(found) == {"short", "self"}
    assert found["short"].collateral_usd == Decimal("90000") and found["short"].debt_usd == Decimal("90000.01")
    assert found["short"].shortfall_usd == Decimal("0.01")
    assert found["self"].collateral_usd == 90000 and found["self"].debt_usd == 95000
    assert s.uid_of(found["short"].user_id) == "short"


# ---------------------------------------------------------------------------------------------- parquet
def test_parquet_with_float_amounts_is_refused_by_field(tmp_path: Path) -> None:
    (tmp_path / "assets.csv").write_text(ASSETS)
    pq.write_table(
        pa.table({"uid": ["a"], "asset": ["BTC"], "equity": [1.5], "debt": ["0"]}), tmp_path / "balances.parquet"
    )
    with pytest.raises(SnapshotError) as info:
        load_snapshot(tmp_path)
    (e,) = info.value.errors
    assert (e.file, e.row, e.field) == ("balances.parquet", 1, "equity") and "decimal strings" in e.message


def test_parquet_errors_use_the_same_row_numbers(tmp_path: Path) -> None:
    (tmp_path / "assets.csv").write_text(ASSETS)
    pq.write_table(
        pa.table({"uid": [1, 2, 3], "asset": ["BTC", "BTC", "XYZ"], "equity": ["1", "2", "3"], "debt": ["0"] * 3}),
        tmp_path / "balances.parquet",
    )
    with pytest.raises(SnapshotError) as info:
        load_snapshot(tmp_path)
    assert [(e.file, e.row, e.field) for e in info.value.errors] == [("balances.parquet", 4, "asset")]


def test_round_trip_sim_csv_and_parquet_give_the_same_snapshot(tmp_path: Path) -> None:
    truth = simulate_liabilities(tmp_path / "csv", users=3000, assets=40, seed=7, insolvent=4)
    simulate_liabilities(tmp_path / "pq", users=3000, assets=40, seed=7, insolvent=4, parquet=True)
    a = load_snapshot(tmp_path / "csv")
    b = load_snapshot(tmp_path / "pq")
    assert a.n_rows == truth.rows and a.n_users == truth.users
    assert [t.equity for t in a.totals] == truth.equity and [t.debt for t in a.totals] == truth.debt
    assert [t.net for t in a.totals] == truth.net
    assert sorted(u.uid for u in a.insolvent_users) == truth.insolvent_uids
    assert a.assets == b.assets and a.totals == b.totals and a.insolvent_users == b.insolvent_users
    for name in ("user_id", "asset", "equity", "debt", "row_start", "row_count"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.uids.equals(b.uids)
    # spot check: one row's value is exactly the text in the file
    table = pa_csv.read_csv(
        tmp_path / "csv" / "balances.csv",
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(["uid", "asset", "equity", "debt"], pa.string())
        ),
    )
    uid, symbol, equity = (table.column(c)[123].as_py() for c in ("uid", "asset", "equity"))
    user = a.user_id_of(uid)
    assert user is not None
    rows = a.rows_of(user)
    asset = next(x for x in a.assets if x.symbol == symbol)
    value = int(a.equity[rows][a.asset[rows].tolist().index(asset.index)])
    assert asset.to_units(value) == Decimal(equity)


# ---------------------------------------------------------------------------------------------- parser
amount_text = st.one_of(
    st.text(alphabet="0123456789.-", max_size=24),
    st.from_regex(r"\A[0-9]{1,20}(\.[0-9]{1,20})?\Z"),
    st.integers(0, 2**64).map(str),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(amount_text, st.integers(-1, 18), st.integers(1, 60)), min_size=1, max_size=30))
def test_kernel_matches_reference(cases: list[tuple[str, int, int]]) -> None:
    texts = pa.array([c[0] for c in cases], pa.string())
    decimals = np.array([c[1] for c in cases], dtype=np.int8)
    caps = np.array([2 ** c[2] for c in cases], dtype=np.int64)
    values, status = parse_column(texts, decimals, caps)
    expected = [parse_units(t, d, cap=2**b) for t, d, b in cases]
    assert [(int(v), int(s)) for v, s in zip(values, status, strict=True)] == expected


def test_kernel_reads_sliced_and_large_string_arrays() -> None:
    base = pa.array(["9", "1.5", "2.25", "x"], pa.string())
    for arr in (base.slice(1, 2), base.cast(pa.large_string()).slice(1, 2)):
        values, status = parse_column(arr, np.array([2, 2], np.int8), np.array([2**60, 2**60], np.int64))
        assert values.tolist() == [150, 225] and status.tolist() == [0, 0]


def test_invalid_utf8_is_named_by_row_and_field(tmp_path: Path) -> None:
    (tmp_path / "assets.csv").write_text(ASSETS)
    (tmp_path / "balances.csv").write_bytes(b"uid,asset,equity,debt\na,BTC,1,0\nb\xff,BTC,1,0\n")
    with pytest.raises(SnapshotError) as info:
        load_snapshot(tmp_path)
    assert [(e.file, e.row, e.field) for e in info.value.errors] == [("balances.csv", 3, "uid")]


# ------------------------------------------------------------------------------ loader against a reference
REF_ASSETS = {
    "BTC": (8, Fraction(100000), Fraction(9, 10)),
    "ETH": (8, Fraction(4000), Fraction(1)),
    "USDT": (6, Fraction(1), Fraction(1)),
}
row_strategy = st.tuples(
    st.sampled_from(["a", "b", "c", "", " d", "élan"]),
    st.sampled_from(["BTC", "ETH", "USDT", "XRP", ""]),
    st.one_of(st.sampled_from(["0", "1", "2.5", "0.00000001", "100000000", ""]), amount_text),
    st.one_of(st.sampled_from(["0", "0", "1", "0.5", "3"]), amount_text),
)


def reference_load(rows: list[tuple[str, str, str, str]]) -> tuple[set[tuple[int, str]], dict, set[str]]:
    """Plain Python: the (row, field) errors, else the values by (uid, asset) and the insolvent uids."""
    errors: set[tuple[int, str]] = set()
    values: dict[tuple[str, str], tuple[int, int]] = {}
    first: dict[tuple[str, str], int] = {}
    for i, (uid, asset, equity, debt) in enumerate(rows):
        row = i + 2
        if not (uid or asset or equity or debt):
            continue
        if not uid or uid != uid.strip():
            errors.add((row, "uid"))
        if asset not in REF_ASSETS:
            errors.add((row, "asset"))
            continue
        decimals = REF_ASSETS[asset][0]
        cap = 2 ** amount_bits(decimals, Decimal(REF_ASSETS[asset][1].numerator))
        parsed = []
        for field_name, text in (("equity", equity), ("debt", debt)):
            value, status = parse_units(text, decimals, cap=cap)
            if status:
                errors.add((row, field_name))
            parsed.append(value)
        if (uid, asset) in first:
            errors.add((row, "uid,asset"))
        else:
            first[(uid, asset)] = row
        values[(uid, asset)] = (parsed[0], parsed[1])
    row_errors = {e for e in errors if e[1] != "uid,asset"}
    if row_errors:  # duplicates are only looked for once every row is sound
        return row_errors, {}, set()
    if errors:
        return errors, {}, set()
    worth: dict[str, list[Fraction]] = {}
    for (uid, asset), (eq, de) in values.items():
        decimals, price, haircut = REF_ASSETS[asset]
        w = worth.setdefault(uid, [Fraction(0), Fraction(0)])
        w[0] += Fraction(eq, 10**decimals) * price * haircut
        w[1] += Fraction(de, 10**decimals) * price
    return set(), values, {u for u, (c, d) in worth.items() if c < d}


clean_row_strategy = st.tuples(
    st.sampled_from(["a", "b", "c", "d", "e", "élan"]),
    st.sampled_from(["BTC", "ETH", "USDT"]),
    st.sampled_from(["0", "1", "2.5", "0.00000001", "100000000", "0.9"]),
    st.sampled_from(["0", "0", "1", "0.5", "3", "100000"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(row_strategy, max_size=12))
def test_loader_matches_a_plain_python_reference(rows: list[tuple[str, str, str, str]]) -> None:
    check_against_reference(rows)


@settings(max_examples=60, deadline=None)
@given(st.lists(clean_row_strategy, max_size=8))
def test_loader_matches_the_reference_on_well_formed_rows(rows: list[tuple[str, str, str, str]]) -> None:
    check_against_reference(rows)


def check_against_reference(rows: list[tuple[str, str, str, str]]) -> None:
    import tempfile

    assets = "asset,decimals,price_usd,haircuts\nBTC,8,100000,0:0.9\nETH,8,4000,\nUSDT,6,1,\n"
    body = HEADER + "".join(",".join(r) + "\n" for r in rows)
    errors, values, insolvent = reference_load(rows)
    event("invalid" if errors else ("insolvent" if insolvent else "valid"))
    with tempfile.TemporaryDirectory() as tmp:
        directory = write(Path(tmp), body, assets)
        if errors:
            with pytest.raises(SnapshotError) as info:
                load_snapshot(directory, max_errors=1000)
            assert {(e.row, e.field) for e in info.value.errors} == errors
            return
        s = load_snapshot(directory, max_errors=1000)
    got = {
        (s.uid_of(int(u)), s.assets[int(a)].symbol): (int(e), int(d))
        for u, a, e, d in zip(s.user_id, s.asset, s.equity, s.debt, strict=True)
    }
    assert got == values
    assert {u.uid for u in s.insolvent_users} == insolvent
    for t, symbol in zip(s.totals, ("BTC", "ETH", "USDT"), strict=True):
        assert t.equity == sum(v[0] for k, v in values.items() if k[1] == symbol)
        assert t.debt == sum(v[1] for k, v in values.items() if k[1] == symbol)


def test_header_only_is_an_empty_snapshot_and_an_empty_file_an_error(tmp_path: Path) -> None:
    s = load_snapshot(write(tmp_path, HEADER))
    assert s.n_rows == 0 and s.n_users == 0 and [t.equity for t in s.totals] == [0, 0, 0]
    (e,) = issues_of(tmp_path, "")
    assert (e.file, e.row) == ("balances.csv", 1) and "empty file" in e.message


def test_an_asset_booked_with_too_few_decimals_for_the_circuit_is_refused_by_row(tmp_path: Path) -> None:
    # one cent is 10^4 micro-USD: amounts would be capped at 2^46 units, under the circuit's 2^48 minimum
    errors = issues_of(tmp_path, HEADER + "a,USD,1,0\n", "asset,decimals,price_usd\nUSD,2,1\n")
    assert [(e.file, e.row, e.field) for e in errors] == [("assets.csv", 2, "decimals")]
    assert "more decimals" in errors[0].message
