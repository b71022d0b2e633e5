"""The liabilities snapshot a Proof of Reserves round proves: load, validate, convert to base units.

A snapshot directory holds `assets.csv` (the asset universe: decimals, USD price, haircut tiers) and
`balances.csv` or `balances.parquet` (one row per (user, asset) holding: `uid,asset,equity,debt`). The
format and every rule below are fixed in docs/spec/snapshot.md.

`load_snapshot` streams the balances file through pyarrow in blocks and keeps only columnar arrays (no
Python object per row), so 10^7 rows fit in a few hundred MB. Validation collects up to `max_errors`
issues, each naming the file, the row (as a spreadsheet shows it: the header is row 1) and the field, then
fails the whole load: nothing half-loaded is ever returned. Users whose debt exceeds their collateral are
not an input error but are never proven either: they come back in `Snapshot.insolvent_users` and the CLI
refuses to prove while that list is non-empty.
"""

from __future__ import annotations

import csv
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bastion.por.format.amounts import decimal_or_none, units_to_decimal

AMOUNT_BITS = 63  # B: every amount is an integer in [0, 2^63) base units (a unique field element) ...
MIN_AMOUNT_BITS = 48  # the circuit range-checks 3 full 16-bit limbs and caps only the top one
USD_BITS = 60  # ... and, per asset, amount * ceil(micro-USD price of one base unit) <= 2^60
MAX_ASSETS = 1024
MAX_DECIMALS = 18
BALANCE_FIELDS = ("uid", "asset", "equity", "debt")
ASSET_FIELDS = ("asset", "decimals", "price_usd")
ASSET_OPTIONAL_FIELDS = ("haircuts",)
ASSETS_FILE = "assets.csv"
BALANCES_CSV = "balances.csv"
BALANCES_PARQUET = "balances.parquet"
_BLOCK_BYTES = 8 << 20
_PARQUET_BATCH_ROWS = 1 << 20


# ------------------------------------------------------------------------------------------------ errors
@dataclass(frozen=True, slots=True)
class SnapshotIssue:
    """One problem in the input. `row` is 1-based with the header as row 1 (None: the whole file)."""

    file: str
    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.field is not None:
            where += f", field {self.field}"
        return f"{where}: {self.message}"


class SnapshotError(Exception):
    """The snapshot is invalid; `errors` lists the issues found (at most `max_errors`)."""

    def __init__(self, errors: list[SnapshotIssue], *, truncated: bool = False) -> None:
        self.errors = errors
        self.truncated = truncated
        more = " (stopped there; there may be more)" if truncated else ""
        if len(errors) == 1 and not truncated:  # one problem, one line
            super().__init__(f"invalid snapshot: {errors[0]}")
            return
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(f"invalid snapshot: {len(errors)} error(s){more}\n{lines}")


_LONG_QUOTE = re.compile(r"('[^']{40})[^']{60,}'")


class _Issues:
    """Collects issues up to a limit; `full` tells the reader to stop early."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("max_errors must be at least 1")
        self.limit = limit
        self.items: list[SnapshotIssue] = []
        self.truncated = False

    @property
    def full(self) -> bool:
        return len(self.items) >= self.limit

    def add(self, file: str, row: int | None, field_name: str | None, message: str) -> None:
        if self.full:
            self.truncated = True
            return
        # A huge field quoted in full would bury the row and field the message names: quote its start only.
        message = _LONG_QUOTE.sub(lambda m: f"{m.group(1)}...' ({len(m.group(0)) - 2:,} characters)", message)
        self.items.append(SnapshotIssue(file, row, field_name, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise SnapshotError(self.items, truncated=self.truncated)


# ------------------------------------------------------------------------------------------------ assets
@dataclass(frozen=True, slots=True)
class HaircutTier:
    """From `threshold_usd` of a user's holding of the asset upwards, the holding counts at `weight`."""

    threshold_usd: Decimal
    weight: Decimal


@dataclass(frozen=True, slots=True)
class Asset:
    index: int
    symbol: str
    decimals: int
    price_usd: Decimal
    unit_price_micro_usd: Fraction  # micro-USD value of one base unit, exact
    haircut: Decimal  # the first tier's weight: what the circuit applies for now
    tiers: tuple[HaircutTier, ...]
    amount_bits: int  # amounts of this asset are < 2^amount_bits base units

    @property
    def cap(self) -> int:
        """Exclusive bound on an amount, in base units."""
        return 1 << self.amount_bits

    def to_units(self, base_units: int) -> Decimal:
        """Base units as an exact decimal in the asset's units."""
        return Decimal(base_units).scaleb(-self.decimals, _EXACT)

    def units_text(self, base_units: int) -> str:
        return units_to_decimal(base_units, self.decimals)


_EXACT = Context(prec=200)  # enough digits for any amount (< 2^64) at any scale used here


def unit_price_micro_usd(decimals: int, price_usd: Decimal) -> Fraction:
    """Micro-USD value of one base unit: price_usd * 10^6 / 10^decimals, exact."""
    return Fraction(price_usd) * Fraction(10**6, 10**decimals)


def amount_bits(decimals: int, price_usd: Decimal | str) -> int:
    """The per-asset amount cap (in bits) that keeps every USD value in the proof below 2^60.

    The largest b <= 64 with 2^b * ceil(unit_price_micro_usd) <= 2^60, so that an amount times the
    integer micro-USD price of one base unit never exceeds 2^60, whatever the amount below the cap. The
    solvency circuit imports this function: the cap is part of the bound analysis, not a loader choice.
    """
    price = Decimal(price_usd)
    if not price.is_finite() or price <= 0:
        raise ValueError(f"price_usd must be > 0, got {price_usd}")
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    unit_ceil = math.ceil(unit_price_micro_usd(decimals, price))
    bits = USD_BITS - (unit_ceil - 1).bit_length()  # 2^bits * unit_ceil <= 2^60 < 2^(bits+1) * unit_ceil
    if bits < 1:
        raise ValueError(
            f"one base unit is worth {unit_ceil} micro-USD or more: more than 2^{USD_BITS - 1}; use more decimals"
        )
    return min(bits, AMOUNT_BITS)


def parse_haircut_tiers(text: str) -> tuple[HaircutTier, ...]:
    """`0:1.0;100000:0.95;1000000:0.9`: USD threshold -> weight, thresholds from 0 strictly increasing,
    weights in [0, 1] and non-increasing (a bigger holding never counts for more). Raises ValueError."""
    tiers: list[HaircutTier] = []
    for part in text.split(";"):
        threshold_text, colon, weight_text = part.partition(":")
        threshold = decimal_or_none(threshold_text.strip())
        weight = decimal_or_none(weight_text.strip())
        if not colon or threshold is None or weight is None:
            raise ValueError(f"tier {part!r} is not THRESHOLD_USD:WEIGHT (e.g. 100000:0.95)")
        if weight > 1:
            raise ValueError(f"tier {part!r}: weight must be in [0, 1]")
        if tiers and threshold <= tiers[-1].threshold_usd:
            raise ValueError(f"tier {part!r}: thresholds must increase")
        if tiers and weight > tiers[-1].weight:
            raise ValueError(f"tier {part!r}: weights must not increase with the holding")
        tiers.append(HaircutTier(threshold, weight))
    if tiers[0].threshold_usd != 0:
        raise ValueError("the first tier must start at 0")
    return tuple(tiers)


def load_assets(path: Path, issues: _Issues) -> list[Asset]:
    """Parse assets.csv; problems go to `issues` (the caller raises)."""
    name = path.name
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        issues.add(name, None, None, f"cannot open: {exc.strerror or exc}")
        return []
    assets: list[Asset] = []
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            issues.add(name, 1, None, "empty file: expected a header asset,decimals,price_usd[,haircuts]")
            return []
        except (csv.Error, UnicodeDecodeError) as exc:
            issues.add(name, 1, None, f"unreadable header: {exc}")
            return []
        columns = _check_header(name, header, ASSET_FIELDS, ASSET_OPTIONAL_FIELDS, issues)
        if columns is None:
            return []
        seen: dict[str, int] = {}
        row_no = 1
        try:
            for record in reader:
                row_no += 1
                if not any(cell.strip() for cell in record):
                    continue  # blank line
                if len(record) != len(header):
                    issues.add(name, row_no, None, f"expected {len(header)} fields, found {len(record)}")
                    continue
                asset = _asset_row(name, row_no, record, columns, len(assets), seen, issues)
                if asset is not None:
                    assets.append(asset)
                if issues.full:
                    return assets
        except (csv.Error, UnicodeDecodeError) as exc:
            issues.add(name, row_no, None, f"unreadable row: {exc}")
    if not assets and not issues.items:
        issues.add(name, None, None, "no assets")
    if len(assets) > MAX_ASSETS:
        issues.add(name, None, None, f"{len(assets)} assets: at most {MAX_ASSETS} are supported")
    return assets


def _asset_row(
    name: str,
    row_no: int,
    record: list[str],
    columns: dict[str, int],
    index: int,
    seen: dict[str, int],
    issues: _Issues,
) -> Asset | None:
    symbol = record[columns["asset"]]
    decimals_text = record[columns["decimals"]].strip()
    price_text = record[columns["price_usd"]].strip()
    tiers_text = record[columns["haircuts"]].strip() if "haircuts" in columns else ""
    before = len(issues.items)
    if not symbol.strip() or symbol != symbol.strip():
        issues.add(name, row_no, "asset", f"asset symbol {symbol!r} is empty or has surrounding spaces")
    elif symbol in seen:
        issues.add(name, row_no, "asset", f"duplicate asset {symbol!r} (first on row {seen[symbol]})")
    else:
        seen[symbol] = row_no
    decimals = -1
    if not decimals_text.isascii() or not decimals_text.isdigit():
        issues.add(name, row_no, "decimals", f"{decimals_text!r} is not a whole number")
    else:
        decimals = int(decimals_text)
        if decimals > MAX_DECIMALS:
            issues.add(name, row_no, "decimals", f"{decimals} decimals: at most {MAX_DECIMALS} are supported")
    price = decimal_or_none(price_text)
    if price is None or price <= 0:
        issues.add(name, row_no, "price_usd", f"{price_text!r} is not a decimal price > 0 (e.g. 64250.5)")
    tiers: tuple[HaircutTier, ...] = (HaircutTier(Decimal(0), Decimal(1)),)
    if tiers_text:
        try:
            tiers = parse_haircut_tiers(tiers_text)
        except (ValueError, InvalidOperation) as exc:
            issues.add(name, row_no, "haircuts", str(exc))
    if len(issues.items) > before or price is None or decimals < 0 or decimals > MAX_DECIMALS:
        return None
    try:
        bits = amount_bits(decimals, price)
    except ValueError as exc:
        issues.add(name, row_no, "price_usd", str(exc))
        return None
    if bits < MIN_AMOUNT_BITS:
        more = -(-(MIN_AMOUNT_BITS - bits) * 3 // 10)  # ~3.3 bits per decimal digit
        issues.add(
            name,
            row_no,
            "decimals",
            f"one base unit of {symbol} is worth more than 2^{USD_BITS - MIN_AMOUNT_BITS} micro-USD, so amounts "
            f"could only reach 2^{bits} units; the proof needs 2^{MIN_AMOUNT_BITS}: book it with about {more} "
            "more decimals",
        )
        return None
    return Asset(
        index=index,
        symbol=symbol,
        decimals=decimals,
        price_usd=price,
        unit_price_micro_usd=unit_price_micro_usd(decimals, price),
        haircut=tiers[0].weight,
        tiers=tiers,
        amount_bits=bits,
    )


def _check_header(
    name: str,
    header: list[str],
    required: tuple[str, ...],
    optional: tuple[str, ...],
    issues: _Issues,
) -> dict[str, int] | None:
    """Column positions by name, or None after reporting what is wrong with the header (row 1)."""
    columns: dict[str, int] = {}
    ok = True
    expected = ",".join(required) + "".join(f"[,{o}]" for o in optional)
    for position, raw in enumerate(header):
        column = raw.strip().lstrip("\ufeff")  # tolerate a UTF-8 byte-order mark from spreadsheets
        if column in columns:
            issues.add(name, 1, column, f"bad header: column {column!r} appears twice")
            ok = False
        elif column not in required and column not in optional:
            issues.add(name, 1, column or None, f"bad header: unknown column {raw!r}; expected {expected}")
            ok = False
        columns[column] = position
    for column in required:
        if column not in columns:
            issues.add(name, 1, column, f"bad header: missing column {column!r}; expected {expected}")
            ok = False
    return columns if ok else None


# ---------------------------------------------------------------------------------------------- snapshot
@dataclass(frozen=True, slots=True)
class AssetTotal:
    """Sums over all rows of one asset, in base units (exact Python ints)."""

    equity: int
    debt: int

    @property
    def net(self) -> int:
        return self.equity - self.debt


@dataclass(frozen=True, slots=True)
class InsolventUser:
    """A user whose haircut collateral is worth less than their debt at the snapshot's prices."""

    uid: str
    user_id: int
    collateral_usd: Decimal  # sum of equity * price * haircut, exact
    debt_usd: Decimal  # sum of debt * price, exact

    @property
    def shortfall_usd(self) -> Decimal:
        return self.debt_usd - self.collateral_usd


@dataclass(frozen=True, eq=False)
class Snapshot:
    """A validated snapshot. Rows are sorted by (user_id, asset); users by uid (byte order).

    `user_id[r]`, `asset[r]`, `equity[r]`, `debt[r]` describe row r; user u owns rows
    `row_start[u] : row_start[u] + row_count[u]` and has uid `uids[u]`.
    """

    directory: Path
    balances_file: str
    assets: list[Asset]
    user_id: NDArray[np.int64]
    asset: NDArray[np.int16]
    equity: NDArray[np.uint64]
    debt: NDArray[np.uint64]
    uids: Any  # pyarrow StringArray, sorted, uids[u] is dense user u's original uid
    row_start: NDArray[np.int64]
    row_count: NDArray[np.int64]
    totals: list[AssetTotal]
    insolvent_users: list[InsolventUser] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(self.user_id)

    @property
    def n_users(self) -> int:
        return len(self.row_start)

    def uid_of(self, user_id: int) -> str:
        return str(self.uids[user_id].as_py())

    def user_id_of(self, uid: str) -> int | None:
        """Dense id of `uid` by binary search over the sorted uids, or None."""
        key = uid.encode()
        lo, hi = 0, len(self.uids)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.uids[mid].as_py().encode() < key:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(self.uids) and self.uids[lo].as_py() == uid else None

    def rows_of(self, user_id: int) -> slice:
        start = int(self.row_start[user_id])
        return slice(start, start + int(self.row_count[user_id]))


def load_snapshot(directory: Path, *, max_errors: int = 20) -> Snapshot:
    """Load and validate the snapshot in `directory`; raise SnapshotError listing what is wrong."""
    directory = Path(directory)
    issues = _Issues(max_errors)
    assets = load_assets(directory / ASSETS_FILE, issues)
    csv_path, parquet_path = directory / BALANCES_CSV, directory / BALANCES_PARQUET
    if csv_path.exists() and parquet_path.exists():
        issues.add(BALANCES_CSV, None, None, f"both {BALANCES_CSV} and {BALANCES_PARQUET} exist: keep one")
    elif not csv_path.exists() and not parquet_path.exists():
        issues.add(BALANCES_CSV, None, None, f"no {BALANCES_CSV} or {BALANCES_PARQUET} in {directory}")
    issues.raise_if_any()  # rows cannot be checked without a sound asset list
    path = csv_path if csv_path.exists() else parquet_path
    columns = _read_balances(path, assets, issues)
    issues.raise_if_any()
    assert columns is not None
    return _assemble(directory, path.name, assets, columns, issues)


# ---------------------------------------------------------------------------------------------- balances
@dataclass
class _Columns:
    uid_chunks: list[Any] = field(default_factory=list)
    asset: list[NDArray[np.int16]] = field(default_factory=list)
    equity: list[NDArray[np.uint64]] = field(default_factory=list)
    debt: list[NDArray[np.uint64]] = field(default_factory=list)
    rows: list[NDArray[np.int64]] = field(default_factory=list)  # spreadsheet row number of each kept row


_STATUS_TEXT = {
    1: "malformed amount {text!r}: expected a plain decimal such as 0.00012345",
    2: "negative amount {text!r}",
}


def _read_balances(path: Path, assets: list[Asset], issues: _Issues) -> _Columns | None:
    import pyarrow as pa

    symbols = pa.array([a.symbol for a in assets], pa.string())
    decimals = np.array([a.decimals for a in assets] + [-1], dtype=np.int8)  # [-1]: unknown asset
    caps = np.array([a.cap for a in assets] + [1], dtype=np.int64)
    out = _Columns()
    next_row = 2
    for batch in _batches(path, issues):
        n = batch.num_rows
        rows = np.arange(next_row, next_row + n, dtype=np.int64)
        next_row += n
        _check_batch(path.name, batch, rows, assets, symbols, decimals, caps, out, issues)
        if issues.full:
            break
    return None if issues.items else out


def _check_batch(
    name: str,
    batch: Any,
    rows: NDArray[np.int64],
    assets: list[Asset],
    symbols: Any,
    decimals: NDArray[np.int8],
    caps: NDArray[np.int64],
    out: _Columns,
    issues: _Issues,
) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from bastion.por.format.amount_column import parse_column
    from bastion.por.format.amounts import OK, TOO_LARGE, TOO_PRECISE

    uid = _as_string(batch.column("uid"))
    symbol = _as_string(batch.column("asset"))
    equity_text = _as_string(batch.column("equity"))
    debt_text = _as_string(batch.column("debt"))
    lengths = [np.asarray(pc.binary_length(c).fill_null(0)) for c in (uid, symbol, equity_text, debt_text)]
    blank = (lengths[0] == 0) & (lengths[1] == 0) & (lengths[2] == 0) & (lengths[3] == 0)
    if blank.any():  # blank lines keep their row numbers but carry nothing
        keep = pa.array(~blank)
        uid, symbol, equity_text, debt_text = (c.filter(keep) for c in (uid, symbol, equity_text, debt_text))
        rows = rows[~blank]
        lengths = [x[~blank] for x in lengths]
    index = np.asarray(pc.index_in(symbol, value_set=symbols).fill_null(-1), dtype=np.int64)
    row_decimals = decimals[index]  # -1 (unknown) picks the sentinel at the end
    row_caps = caps[index]
    equity, equity_status = parse_column(equity_text, row_decimals, row_caps)
    debt, debt_status = parse_column(debt_text, row_decimals, row_caps)

    padded = np.asarray(pc.not_equal(pc.utf8_trim_whitespace(uid), uid).fill_null(False), dtype=bool)
    bad = (lengths[0] == 0) | padded | (index < 0) | (equity_status != OK) | (debt_status != OK)
    for r in np.flatnonzero(bad):
        if issues.full:
            issues.truncated = True
            return
        row = int(rows[r])
        if lengths[0][r] == 0:
            issues.add(name, row, "uid", "empty uid")
        elif padded[r]:
            issues.add(name, row, "uid", f"uid {uid[r].as_py()!r} has leading or trailing spaces")
        if index[r] < 0:
            issues.add(name, row, "asset", f"unknown asset {symbol[r].as_py()!r} (not in {ASSETS_FILE})")
            continue
        asset = assets[index[r]]
        for field_name, status, text in (
            ("equity", equity_status[r], equity_text[r]),
            ("debt", debt_status[r], debt_text[r]),
        ):
            if status == OK:
                continue
            shown = text.as_py() or ""
            if status == TOO_PRECISE:
                message = f"{shown!r} has more than the {asset.decimals} decimals {asset.symbol} allows"
            elif status == TOO_LARGE:
                message = (
                    f"{shown!r} is at or above the cap for {asset.symbol}: 2^{asset.amount_bits} base units"
                    f" = {asset.units_text(asset.cap)} {asset.symbol} (keeps every USD value below"
                    f" 2^{USD_BITS} micro-USD); declare fewer decimals for {asset.symbol} in {ASSETS_FILE}"
                    " (each decimal fewer raises the cap about tenfold)"
                )
            else:
                message = _STATUS_TEXT[int(status)].format(text=shown)
            issues.add(name, row, field_name, message)
    if issues.items:
        return  # keep reading to report further rows, but nothing is kept once anything is wrong
    out.uid_chunks.append(uid)
    out.asset.append(index.astype(np.int16))
    out.equity.append(equity)
    out.debt.append(debt)
    out.rows.append(rows)


def _as_string(column: Any) -> Any:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())  # one type whatever the source (large_string, integer uids)
    return column


def _batches(path: Path, issues: _Issues) -> Iterator[Any]:
    if path.suffix == ".parquet":
        yield from _parquet_batches(path, issues)
    else:
        yield from _csv_batches(path, issues)


def _csv_batches(path: Path, issues: _Issues) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    name = path.name
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), None)
    if header is None:
        issues.add(name, 1, None, f"empty file: expected a header {','.join(BALANCE_FIELDS)}")
        return
    if _check_header(name, header, BALANCE_FIELDS, (), issues) is None:
        return
    structural: list[str] = []

    def invalid_row(row: Any) -> str:
        structural.append(row.text)
        return "skip"

    names = [c.strip().lstrip("\ufeff") for c in header]
    try:
        # Every column is read as text: type inference would turn amounts into floats.
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(block_size=_BLOCK_BYTES, use_threads=True, column_names=names, skip_rows=1),
            parse_options=pa_csv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=invalid_row),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            if structural:
                break  # row numbers shift past a skipped row: report the structure first
            yield batch
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) and _report_bad_utf8(path, names, issues):
            return
        if "straddl" in str(exc) and _report_oversized(path, names, issues):
            return  # pyarrow's "straddling object ... increase block size": a row longer than a block
        issues.add(name, None, None, f"unreadable CSV: {exc}")
        return
    if structural:
        _report_structural(path, len(header), issues)


def _report_structural(path: Path, width: int, issues: _Issues) -> None:
    """Error path only: find the rows with the wrong number of fields, with exact row numbers."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        for row_no, record in enumerate(csv.reader(handle), start=1):
            if record and len(record) != width:
                issues.add(path.name, row_no, None, f"expected {width} fields, found {len(record)}")
                if issues.full:
                    return


_MAX_FIELD = 1 << 20  # characters; a uid, symbol or amount is far shorter


def _report_oversized(path: Path, names: list[str], issues: _Issues) -> bool:
    """Error path only: name the first row and field too long to be a balance (pyarrow only says a row
    straddles its read blocks)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            for row_no, record in enumerate(csv.reader(handle), start=1):
                for i, cell in enumerate(record):
                    if len(cell) > _MAX_FIELD:
                        field_name = names[i] if i < len(names) else f"column {i + 1}"
                        issues.add(
                            path.name, row_no, field_name, f"{len(cell):,} characters long (at most {_MAX_FIELD:,})"
                        )
                        return True
    finally:
        csv.field_size_limit(limit)
    return False


def _report_bad_utf8(path: Path, names: list[str], issues: _Issues) -> bool:
    """Error path only: name the rows (and fields) that are not valid UTF-8."""
    found = False
    with path.open("rb") as handle:
        for row_no, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                cells = line.decode("utf-8", errors="replace").split(",")
                bad = [names[i] for i, c in enumerate(cells[: len(names)]) if "\ufffd" in c]
                issues.add(path.name, row_no, ",".join(bad) or None, "not valid UTF-8 text")
                found = True
                if issues.full:
                    break
    return found


def _parquet_batches(path: Path, issues: _Issues) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = path.name
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        issues.add(name, None, None, f"unreadable Parquet file: {exc}")
        return
    schema = parquet.schema_arrow
    if _check_header(name, list(schema.names), BALANCE_FIELDS, (), issues) is None:
        return
    ok = True
    for column in BALANCE_FIELDS:
        kind = schema.field(column).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        textual = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        if column == "uid" and pa.types.is_integer(kind):
            continue  # integer uids are read as their decimal text
        if not textual:
            issues.add(
                name, 1, column, f"column {column!r} must hold decimal strings, found {kind} (floats lose digits)"
            )
            ok = False
    if not ok:
        return
    try:
        yield from parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=list(BALANCE_FIELDS))
    except (pa.ArrowInvalid, OSError) as exc:
        issues.add(name, None, None, f"unreadable Parquet file: {exc}")


# ---------------------------------------------------------------------------------------------- assemble
def _assemble(directory: Path, name: str, assets: list[Asset], columns: _Columns, issues: _Issues) -> Snapshot:
    import pyarrow as pa
    import pyarrow.compute as pc

    n_assets = len(assets)
    if columns.uid_chunks:
        uid_all = pa.chunked_array(columns.uid_chunks).combine_chunks()
        asset = np.concatenate(columns.asset)
        equity = np.concatenate(columns.equity)
        debt = np.concatenate(columns.debt)
        rows = np.concatenate(columns.rows)
    else:
        uid_all = pa.array([], pa.string())
        asset = np.zeros(0, np.int16)
        equity = debt = np.zeros(0, np.uint64)
        rows = np.zeros(0, np.int64)
    # the chunks are concatenated: let them go now (they would double the rows' memory until the load returns)
    for chunks in (columns.uid_chunks, columns.asset, columns.equity, columns.debt, columns.rows):
        chunks.clear()
    encoded = pc.dictionary_encode(uid_all)
    del uid_all
    first_seen = np.asarray(encoded.indices, dtype=np.int64)
    dictionary = encoded.dictionary
    order = np.asarray(pc.sort_indices(dictionary), dtype=np.int64)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order), dtype=np.int64)
    uids = dictionary.take(pa.array(order))
    del encoded, dictionary
    key = rank[first_seen]  # in place from here: no row-sized temporaries
    del first_seen, rank
    key *= MAX_ASSETS
    key += asset
    perm = np.argsort(key, kind="stable")
    key = key[perm]
    dup = np.flatnonzero(key[1:] == key[:-1]) + 1
    for i in dup[: issues.limit]:
        first, again = int(rows[perm[i - 1]]), int(rows[perm[i]])
        user = int(key[i] // MAX_ASSETS)
        symbol = assets[int(key[i] % MAX_ASSETS)].symbol
        issues.add(
            name,
            again,
            "uid,asset",
            f"duplicate row for uid {uids[user].as_py()!r} and asset {symbol} (first on row {first})",
        )
    issues.raise_if_any()
    del rows
    user_id = key // MAX_ASSETS
    del key
    asset = asset[perm]
    equity = equity[perm]
    debt = debt[perm]
    del perm
    row_count = np.bincount(user_id, minlength=len(uids)).astype(np.int64)
    row_start = np.zeros(len(uids), dtype=np.int64)
    np.cumsum(row_count[:-1], out=row_start[1:])
    totals = _totals(asset, equity, debt, n_assets)
    insolvent = _insolvent_users(assets, user_id, asset, equity, debt, row_start, row_count, uids)
    return Snapshot(
        directory=directory,
        balances_file=name,
        assets=assets,
        user_id=user_id,
        asset=asset,
        equity=equity,
        debt=debt,
        uids=uids,
        row_start=row_start,
        row_count=row_count,
        totals=totals,
        insolvent_users=insolvent,
    )


def exact_sums(group: NDArray[Any], values: NDArray[np.uint64], n_groups: int) -> list[int]:
    """Exact per-group sums of uint64 values as Python ints (32-bit halves, so nothing wraps)."""
    lo = np.zeros(n_groups, dtype=np.uint64)
    hi = np.zeros(n_groups, dtype=np.uint64)
    # each half is < 2^32, so up to 2^32 rows per group sum without wrapping
    np.add.at(lo, group, values & np.uint64(0xFFFFFFFF))
    np.add.at(hi, group, values >> np.uint64(32))
    return [(int(h) << 32) + int(low) for h, low in zip(hi, lo, strict=True)]


def _totals(
    asset: NDArray[np.int16], equity: NDArray[np.uint64], debt: NDArray[np.uint64], n_assets: int
) -> list[AssetTotal]:
    eq = exact_sums(asset, equity, n_assets)
    de = exact_sums(asset, debt, n_assets)
    return [AssetTotal(e, d) for e, d in zip(eq, de, strict=True)]


def _insolvent_users(
    assets: list[Asset],
    user_id: NDArray[np.int64],
    asset: NDArray[np.int16],
    equity: NDArray[np.uint64],
    debt: NDArray[np.uint64],
    row_start: NDArray[np.int64],
    row_count: NDArray[np.int64],
    uids: Any,
) -> list[InsolventUser]:
    """Users with sum(equity * price * haircut) < sum(debt * price), in exact integer arithmetic.

    Only users with some debt can be insolvent, so only their rows are lifted to Python ints (numpy object
    arrays): every price and haircut is a finite decimal, so scaling by one power of ten makes all the
    per-asset weights integers and the comparison exact.
    """
    if not len(user_id):
        return []
    has_debt = np.add.reduceat((debt > 0).astype(np.int64), row_start) > 0
    if not has_debt.any():
        return []
    debtors = np.flatnonzero(has_debt)
    row_mask = has_debt[user_id]
    sub_asset = asset[row_mask]
    counts = row_count[debtors]
    starts = np.zeros(len(debtors), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])

    def exponent(x: Decimal) -> int:
        return -min(0, int(x.as_tuple().exponent))

    scale = max(a.decimals + exponent(a.price_usd) + exponent(a.haircut) for a in assets)
    collateral_weight = np.array(
        [_integer(Fraction(a.price_usd) * Fraction(a.haircut) * 10 ** (scale - a.decimals)) for a in assets],
        dtype=object,
    )
    debt_weight = np.array([_integer(Fraction(a.price_usd) * 10 ** (scale - a.decimals)) for a in assets], dtype=object)
    collateral = np.add.reduceat(equity[row_mask].astype(object) * collateral_weight[sub_asset], starts)
    owed = np.add.reduceat(debt[row_mask].astype(object) * debt_weight[sub_asset], starts)
    out: list[InsolventUser] = []
    for k in np.flatnonzero(np.less(collateral, owed).astype(bool)):
        user = int(debtors[k])
        out.append(
            InsolventUser(
                uid=str(uids[user].as_py()),
                user_id=user,
                collateral_usd=Decimal(f"{collateral[k]}E-{scale}"),
                debt_usd=Decimal(f"{owed[k]}E-{scale}"),
            )
        )
    return out


def _integer(x: Fraction) -> int:
    if x.denominator != 1:
        raise AssertionError(f"weight {x} is not an integer at the chosen scale")
    return x.numerator
