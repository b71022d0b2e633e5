"""`bastion funds`: bulk import of liquidations from a CSV file (all or nothing) and the ledger check.

The month's fund figures are part of `bastion report monthly`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from bastion.cli.common import EXIT_BAD_INPUT, database_url_option, fail, open_database

app = typer.Typer(
    help="Risk provision fund: import liquidations, check the ledger (month figures: bastion report monthly).",
    no_args_is_help=True,
)

COLUMNS = ("id", "instType", "instFamily", "ccy", "instId", "posSide", "sz", "bkPx", "fillPx", "ts")


@app.command("import")
def import_file(
    path: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        help="CSV with a header (OKX field names): " + ",".join(COLUMNS) + "; optional ctType, ctVal. "
        "ts: OKX's Unix milliseconds or ISO 8601.",
    ),
    url: str = database_url_option(),
) -> None:
    """Book every row in one transaction: a bad row is named (row = line in the file, the header is line 1) and
    nothing is written. Rows already booked with the same payload are skipped (idempotent by id)."""
    import csv
    from decimal import Decimal, InvalidOperation

    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.errors import BastionError, InvalidInputError
    from bastion.funds.ledger import LiquidationIn, PoolKey, book_liquidations
    from bastion.funds.liquidation import ContractType, PositionSide
    from bastion.settings import Settings

    settings = Settings()
    items: list[LiquidationIn] = []
    lines: list[int] = []  # each item's line in the file
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise fail(f"{path}: missing columns: {', '.join(missing)}; nothing imported")
        for rec in reader:
            row = reader.line_num  # the line in the file, header = line 1, as a spreadsheet numbers it
            field = "?"
            try:
                field = "posSide"
                side = PositionSide(rec["posSide"])
                nums = {}
                for field in ("sz", "bkPx", "fillPx"):
                    nums[field] = Decimal(rec[field])
                field = "ts"
                ts = _timestamp(rec["ts"])
                field = "ctType"
                ct = ContractType(rec.get("ctType") or "linear")
                field = "ctVal"
                ct_val = Decimal(rec.get("ctVal") or "1")
            except (ValueError, InvalidOperation, KeyError):
                raise fail(f"{path}: row {row}, {field}: cannot read {rec.get(field)!r}; nothing imported") from None
            lines.append(row)
            items.append(
                LiquidationIn(
                    rec["id"],
                    PoolKey(rec["instType"], rec["instFamily"], rec["ccy"]),
                    rec["instId"],
                    side,
                    nums["sz"],
                    nums["bkPx"],
                    nums["fillPx"],
                    ts,
                    ct,
                    ct_val,
                )
            )
    if not items:
        raise fail(f"{path}: no rows under the header; nothing imported")
    engine = make_engine(open_database(url, mode="write"))
    try:
        with make_sessionmaker(engine)() as s:
            try:
                booked = book_liquidations(s, items, settings.funds.policy())
            except InvalidInputError as exc:
                where = f"row {lines[exc.row]}, " if exc.row is not None and 0 <= exc.row < len(lines) else ""
                raise fail(f"{path}: {where}{exc.field}: {exc.message}; nothing imported") from None
            except BastionError as exc:
                raise fail(f"{path}: {exc}; nothing imported", EXIT_BAD_INPUT) from None
            s.commit()
    finally:
        engine.dispose()
    new = sum(1 for b in booked if not b.replayed)
    typer.echo(f"{len(items)} rows: {new} booked, {len(items) - new} already booked")


@app.command("check")
def check(url: str = database_url_option()) -> None:
    """Re-add the whole ledger; exit 1 if anything does not balance."""
    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.funds.ledger import check_ledger

    engine = make_engine(open_database(url))
    with make_sessionmaker(engine)() as s:
        result = check_ledger(s)
    engine.dispose()
    typer.echo(
        f"{result.entries} entries, postings sum {result.postings_total}, problems {len(result.problems)}"
    )
    for p in result.problems[:20]:
        typer.echo(p)
    if not result.balanced:
        raise typer.Exit(1)


def _timestamp(raw: str) -> datetime:
    """OKX sends `ts` as Unix time in milliseconds ("1597026383085"); ISO 8601 is accepted too (UTC if naive)."""
    from datetime import UTC, datetime

    text = raw.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    ts = datetime.fromisoformat(text)
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
