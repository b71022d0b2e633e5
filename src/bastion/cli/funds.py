"""`bastion funds`: bulk import of liquidations from a CSV file (all or nothing), ledger check, month metrics."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Insurance fund: import liquidations, check the ledger, monthly figures.", no_args_is_help=True
)

COLUMNS = ("id", "instType", "instFamily", "ccy", "instId", "posSide", "sz", "bkPx", "fillPx", "ts")


@app.command("import")
def import_file(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="CSV with a header: " + ",".join(COLUMNS)
    ),
    url: str = typer.Option("", help="Database URL (default: BASTION_DATABASE_URL or the local SQLite)."),
) -> None:
    """Book every row in one transaction: a bad row is named (row number = data line, from 0) and nothing is
    written. Rows already booked with the same payload are skipped (idempotent by id)."""
    import csv
    from datetime import datetime
    from decimal import Decimal, InvalidOperation

    from bastion.db.migrate import upgrade
    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.errors import BastionError
    from bastion.funds.ledger import LiquidationIn, PoolKey, book_liquidations
    from bastion.funds.liquidation import ContractType, PositionSide
    from bastion.settings import Settings

    settings = Settings()
    db = url or settings.database_url
    items: list[LiquidationIn] = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise typer.BadParameter(f"missing columns: {', '.join(missing)}")
        for row, rec in enumerate(reader):
            field = "?"
            try:
                field = "posSide"
                side = PositionSide(rec["posSide"])
                nums = {}
                for field in ("sz", "bkPx", "fillPx"):
                    nums[field] = Decimal(rec[field])
                field = "ts"
                ts = datetime.fromisoformat(rec["ts"])
                field = "ctType"
                ct = ContractType(rec.get("ctType") or "linear")
                field = "ctVal"
                ct_val = Decimal(rec.get("ctVal") or "1")
            except (ValueError, InvalidOperation, KeyError):
                typer.echo(f"row {row}, {field}: cannot read {rec.get(field)!r}; nothing imported", err=True)
                raise typer.Exit(2) from None
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
    upgrade(db)
    engine = make_engine(db)
    try:
        with make_sessionmaker(engine)() as s:
            try:
                booked = book_liquidations(s, items, settings.funds.policy())
            except BastionError as exc:
                typer.echo(f"{exc}; nothing imported", err=True)
                raise typer.Exit(2) from None
            s.commit()
    finally:
        engine.dispose()
    new = sum(1 for b in booked if not b.replayed)
    typer.echo(f"{len(items)} rows: {new} booked, {len(items) - new} already booked")


@app.command("check")
def check(url: str = typer.Option("", help="Database URL.")) -> None:
    """Re-add the whole ledger; exit 1 if anything does not balance."""
    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.funds.ledger import check_ledger
    from bastion.settings import Settings

    engine = make_engine(url or Settings().database_url)
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
