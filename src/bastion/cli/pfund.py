"""`bastion pfund`: the user protection fund from the command line.

`verify-wallets` proves the fund's wallets for a round (the reserves verifier, ownership over the round's
challenge) and records them; `status` prints the fund's size; `contribute` books money in; `affected`
records an incident's affected users from a CSV (all or nothing); `check` re-adds the ledger; `disclosure`
publishes a fund's words from a JSON file. Errors are one line naming the field (and row).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from bastion.cli.common import database_url_option, decimal_argument, fail, open_database

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.orm import Session

app = typer.Typer(help="User protection fund: wallets, size, bookings, incidents, disclosures.", no_args_is_help=True)

URL = database_url_option()


@contextmanager
def _session(url: str, mode: Literal["read", "write"] = "write") -> Iterator[Session]:
    from bastion.db.session import make_engine, make_sessionmaker

    engine = make_engine(open_database(url, mode=mode))
    try:
        with make_sessionmaker(engine)() as s:
            yield s
    finally:
        engine.dispose()


def _fail(message: str) -> typer.Exit:
    return fail(message)


@app.command("verify-wallets")
def verify_wallets(
    wallets_file: Path = typer.Argument(..., help="The fund's wallet set (.csv/.parquet, the reserves format)."),
    round_dir: Path = typer.Option(..., "--round", help="The round directory (round.json, reserves.json)."),
    url: str = URL,
) -> None:
    """Verify the fund's wallets against the round and record them; exit 1 if any row failed."""
    from bastion.errors import BastionError
    from bastion.por.reserves.errors import ReservesInputError
    from bastion.por.reserves.round_view import load_round
    from bastion.por.reserves.walletset import read_wallet_set
    from bastion.protection_fund import wallets

    try:
        rnd = load_round(round_dir)
        wallet_set = read_wallet_set(wallets_file)
    except ReservesInputError as exc:
        raise _fail(str(exc)) from None
    with _session(url) as s:
        try:
            rec = wallets.verify_round(s, rnd, wallet_set, datetime.now(UTC), round_dir).record
        except BastionError as exc:
            raise _fail(str(exc)) from None
        s.commit()
    for w in rec.wallets:
        mark = "ok    " if w["verified"] else "FAILED"
        typer.echo(f"{mark} {w['chain']:<9} {w['asset']:<6} {w['balance']:>24} {w['address']}")
    for f in rec.failures:
        typer.echo(f"row {f['row']}: {f['chain']} {f['asset']} {f['address']}: {f['reason']}")
    typer.echo(
        f"round {rec.round_id}: {sum(1 for w in rec.wallets if w['verified'])}/{len(rec.wallets)} wallets verified, "
        f"wallets ${rec.wallets_usd:,.2f}, ledger ${rec.ledger_usd:,.2f} at the round's prices"
    )
    if rec.status != "verified":
        raise typer.Exit(1)


@app.command("status")
def status(url: str = URL, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The fund's balances, USD total at the latest round's prices, and that round's wallets."""
    from bastion.protection_fund import public

    with _session(url, "read") as s:
        size = public.fund_size(s)
    out = {
        "balances": {c: format(b, "f") for c, b in size.balances.items()},
        "total_usd": None if size.total_usd is None else format(size.total_usd, "f"),
        "round": None if size.round is None else size.round.round_id,
        "wallets_cover_ledger": size.wallets_cover_ledger,
    }
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    for c, b in out["balances"].items():  # type: ignore[union-attr]
        typer.echo(f"{c:<8} {b}")
    total = (
        "n/a (no round recorded: run `bastion pfund verify-wallets`)"
        if size.total_usd is None
        else f"${size.total_usd:,.2f}"
    )
    typer.echo(f"total {total}; round {out['round']}; wallets cover the ledger: {out['wallets_cover_ledger']}")


@app.command("contribute")
def contribute(
    ref: str = typer.Option(..., help="Idempotency key of this booking."),
    ccy: str = typer.Option(..., help="Currency, e.g. USDT."),
    amount: str = typer.Option(..., help="Amount, a positive decimal (at most 8 places)."),
    source: str = typer.Option(..., help="Funding source, e.g. treasury, fee_share."),
    actor: str = typer.Option(..., help="Who books it (audited)."),
    ts: str = typer.Option("", help="ISO-8601 time with zone (default: now)."),
    url: str = URL,
) -> None:
    from bastion.errors import BastionError
    from bastion.protection_fund import ledger

    value = decimal_argument(amount, "amount")
    try:
        at = datetime.fromisoformat(ts) if ts else datetime.now(UTC)
    except ValueError:
        raise _fail(f"ts: not an ISO-8601 time: {ts!r}") from None
    with _session(url) as s:
        try:
            b = ledger.contribute(s, ref, ccy, value, source, at, actor)
        except BastionError as exc:
            raise _fail(str(exc)) from None
        s.commit()
    typer.echo(
        f"{b.ref}: {b.ccy} {format(b.amount, 'f')} -> balance {format(b.balance, 'f')}"
        + (" (already booked)" if b.replayed else "")
    )


@app.command("affected")
def affected(
    incident_id: int = typer.Argument(...),
    csv_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV with a header: user_id,ccy,amount"),
    actor: str = typer.Option(..., help="Who records them (audited)."),
    url: str = URL,
) -> None:
    """Record an incident's affected users: all rows or none (row = line in the file, the header is line 1)."""
    import csv

    from bastion.errors import BastionError, InvalidInputError
    from bastion.protection_fund import incidents

    rows: list[incidents.Affected] = []
    with csv_file.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"user_id", "ccy", "amount"} - set(reader.fieldnames or [])
        if missing:
            raise _fail(f"header: missing column(s) {', '.join(sorted(missing))}")
        for i, rec in enumerate(reader, start=2):  # as a spreadsheet shows it: the header is row 1
            try:
                rows.append(incidents.Affected(rec["user_id"] or "", rec["ccy"] or "", Decimal(rec["amount"] or "")))
            except InvalidOperation:
                raise _fail(f"row {i}, amount: not a number: {rec['amount']!r}; nothing recorded") from None
    with _session(url) as s:
        try:
            new, same = incidents.record_affected(s, incident_id, rows, actor, datetime.now(UTC))
        except InvalidInputError as exc:
            # the domain counts rows from 0; the file's first data row is row 2 (the header is row 1)
            where = f"row {exc.row + 2}, " if exc.row is not None else ""
            raise _fail(f"{where}{exc.field}: {exc.message}; nothing recorded") from None
        except BastionError as exc:
            raise _fail(f"{exc}; nothing recorded") from None
        s.commit()
    typer.echo(f"{new} recorded, {same} already recorded")


@app.command("check")
def check(url: str = URL) -> None:
    """Re-add the fund's whole ledger; exit 1 if anything does not balance."""
    from bastion.protection_fund import ledger

    with _session(url, "read") as s:
        result = ledger.check_ledger(s)
    typer.echo(f"{result.entries} entries, problems {len(result.problems)}")
    for p in result.problems[:20]:
        typer.echo(p)
    if not result.balanced:
        raise typer.Exit(1)


@app.command("disclosure")
def disclosure(
    fund: str = typer.Argument(..., help="protection or risk_provision"),
    words_file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="JSON: purpose, structure, triggers, disclaimers[]"
    ),
    actor: str = typer.Option(..., help="Who publishes them (kept with the version)."),
    url: str = URL,
) -> None:
    """Publish a fund's words (a new version; the same words again change nothing)."""
    from bastion.errors import BastionError
    from bastion.protection_fund import disclosures

    try:
        which = disclosures.Fund(fund)
    except ValueError:
        raise _fail(f"fund: must be one of {', '.join(f.value for f in disclosures.Fund)}") from None
    try:
        raw = json.loads(words_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"{words_file.name}: not readable JSON: {exc}") from None
    fields = ("purpose", "structure", "triggers")
    if not isinstance(raw, dict):
        raise _fail(f"{words_file.name}: must be an object")
    for f in fields:
        if not isinstance(raw.get(f), str):
            raise _fail(f"{f}: must be a string")
    if not isinstance(raw.get("disclaimers"), list) or not all(isinstance(d, str) for d in raw["disclaimers"]):
        raise _fail("disclaimers: must be a list of strings")
    words = disclosures.Words(raw["purpose"], raw["structure"], raw["triggers"], list(raw["disclaimers"]))
    with _session(url) as s:
        try:
            version = disclosures.set_words(s, which, words, actor, datetime.now(UTC))
        except BastionError as exc:
            raise _fail(str(exc)) from None
        s.commit()
    typer.echo(f"{fund}: version {version} in force")
