"""The wallet set: one row per (wallet, asset), or per signing key of a multisig wallet.

Columns (CSV with a header, or Parquet with these column names; other columns are refused so a typo
cannot silently drop a field):

    chain,asset,address,balance,snapshot_height,message,signature,pubkey_or_script

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is row 2 (a Parquet
file's rows likewise, so the same wallet has the same number in both forms). Every malformed row is
reported, with file, row and field, before anything is verified.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bastion.por.format.amounts import parse_amount
from bastion.por.reserves.bitcoin import CHAIN_NETWORKS
from bastion.por.reserves.chains import NATIVE_CHAINS
from bastion.por.reserves.errors import ReservesInputError
from bastion.por.reserves.evm import EVM_CHAINS

COLUMNS = (
    "chain",
    "asset",
    "address",
    "balance",
    "snapshot_height",
    "message",
    "signature",
    "pubkey_or_script",
)
CHAINS = frozenset(CHAIN_NETWORKS) | EVM_CHAINS | {"tron"} | frozenset(NATIVE_CHAINS)


@dataclass(frozen=True, slots=True)
class WalletRow:
    row: int
    chain: str
    asset: str
    address: str
    balance: Decimal
    balance_text: str
    snapshot_height: int
    message: str
    signature: str
    pubkey_or_script: str


@dataclass(frozen=True, slots=True)
class WalletSet:
    file: str
    sha256: str
    rows: list[WalletRow]


def read_wallet_set(path: Path) -> WalletSet:
    """Read a .csv or .parquet wallet set; ReservesInputError listing every bad row."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReservesInputError(name, [(None, "file", f"cannot read: {exc.strerror or exc}")]) from None
    parquet = path.suffix.lower() in (".parquet", ".pq")
    records = _parquet_records(path, name) if parquet else _csv_records(data, name)
    return WalletSet(name, hashlib.sha256(data).hexdigest(), parse_records(records, name))


def _csv_records(data: bytes, name: str) -> list[dict[str, Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReservesInputError(name, [(None, "file", f"not UTF-8 text: {exc}")]) from None
    reader = csv.DictReader(text.splitlines(keepends=True), strict=True)
    header = reader.fieldnames or []
    _check_header(list(header), name)
    try:
        records = list(reader)
    except csv.Error as exc:
        raise ReservesInputError(name, [(reader.line_num, "file", f"malformed CSV: {exc}")]) from None
    for i, rec in enumerate(records, start=2):  # as a spreadsheet shows it: the header is row 1
        if None in rec:
            raise ReservesInputError(name, [(i, "row", f"more fields than the {len(header)} columns")])
    return records


def _parquet_records(path: Path, name: str) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise ReservesInputError(name, [(None, "file", f"not a readable Parquet file: {exc}")]) from None
    _check_header(table.column_names, name)
    problems: list[tuple[int | None, str, str]] = []
    for col in ("balance",):
        if str(table.schema.field(col).type) not in ("string", "large_string"):
            problems.append((None, col, f"must be a string column of decimals, not {table.schema.field(col).type}"))
    if problems:
        raise ReservesInputError(name, problems)
    return [dict(r) for r in table.to_pylist()]


def _check_header(header: list[str], name: str) -> None:
    missing = [c for c in COLUMNS if c not in header]
    extra = [c for c in header if c not in COLUMNS]
    problems: list[tuple[int | None, str, str]] = []
    if missing:
        problems.append((None, "header", f"missing column(s): {', '.join(missing)}"))
    if extra:
        problems.append((None, "header", f"unknown column(s): {', '.join(extra)}"))
    if problems:
        raise ReservesInputError(name, problems)


def parse_records(records: Iterable[Mapping[str, Any]], name: str) -> list[WalletRow]:
    rows: list[WalletRow] = []
    problems: list[tuple[int | None, str, str]] = []
    for i, rec in enumerate(records, start=2):  # as a spreadsheet shows it: the header is row 1
        bad_before = len(problems)

        def text(field: str, required: bool = True, rec: Mapping[str, Any] = rec, i: int = i) -> str:
            value = rec.get(field)
            value = "" if value is None else str(value).strip()
            if required and not value:
                problems.append((i, field, "is empty"))
            return value

        chain = text("chain").lower()
        if chain and chain not in CHAINS:
            problems.append((i, "chain", f"unknown chain {chain!r} (known: {', '.join(sorted(CHAINS))})"))
        asset = text("asset").upper()
        address = text("address")
        balance_text = text("balance")
        balance = Decimal(0)
        if balance_text:
            try:
                balance = parse_amount(balance_text)
            except ValueError as exc:
                problems.append((i, "balance", str(exc)))
        height_text = text("snapshot_height")
        height = 0
        if height_text:
            if height_text.isdigit():
                height = int(height_text)
            else:
                problems.append((i, "snapshot_height", f"not a block height: {height_text!r}"))
        # The message is compared byte for byte with the challenge: keep it as written.
        raw_message = rec.get("message")
        message = "" if raw_message is None else str(raw_message)
        if not message:
            problems.append((i, "message", "is empty"))
        signature = text("signature")
        script = text("pubkey_or_script", required=False)
        if len(problems) == bad_before:
            rows.append(WalletRow(i, chain, asset, address, balance, balance_text, height, message, signature, script))
    if problems:
        raise ReservesInputError(name, problems)
    if not rows:
        raise ReservesInputError(name, [(None, "file", "no wallet rows")])
    return rows


def write_wallet_csv(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in COLUMNS})
