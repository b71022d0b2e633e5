"""`bastion travel-rule ...`: the counterparty VASP directory, this exchange's identity (what counterparties need to
add us), the rules and the day's prices, and the sweep that returns held deposits past their deadline.

Works on the database the service uses (--database-url / BASTION_DATABASE_URL).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer

from bastion.cli.common import (
    CliError,
    database_url_option,
    decimal_argument,
    echo_listing,
    open_database,
    sessions_for,
)

app = typer.Typer(help="The Travel Rule: VASP directory, identity, rules, prices, sweep.", no_args_is_help=True)
vasps_app = typer.Typer(help="Counterparty exchanges (VASPs): add, list, remove.", no_args_is_help=True)
rules_app = typer.Typer(help="The rules per jurisdiction pair (versioned): show, load.", no_args_is_help=True)
prices_app = typer.Typer(help="The day's prices the thresholds are converted with.", no_args_is_help=True)
app.add_typer(vasps_app, name="vasps")
app.add_typer(rules_app, name="rules")
app.add_typer(prices_app, name="prices")

UrlOpt = database_url_option()
JsonOpt = typer.Option(False, "--json", help="Print JSON on stdout instead of text.")


def _jwk(text: str) -> dict[str, Any]:
    """A JWK given inline (JSON) or as a file path."""
    raw = text.strip()
    if not raw.startswith("{"):
        try:
            raw = Path(raw).read_text()
        except OSError as exc:
            raise CliError(f"--jwk: cannot read {text}: {exc.strerror}") from None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CliError(f"--jwk: not JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise CliError("--jwk: a JSON object (a public JWK)")
    return value


def _address(text: str, row: int) -> tuple[str, str]:
    chain, sep, address = text.partition(":")
    if not sep or not chain or not address:
        raise CliError(f"--address {row}: chain:address, e.g. ethereum:0xabc...")
    return chain, address


@vasps_app.command("add")
def vasps_add(
    name: str = typer.Option(..., "--name", help="The VASP's legal name."),
    lei: str = typer.Option(..., "--lei", help="Its LEI (20 characters, ISO 17442 check digits verified)."),
    endpoint: str = typer.Option(
        ..., "--endpoint", help="Its base URL; messages go to <endpoint>/v1/travel-rule/messages."
    ),
    jwk: str = typer.Option(..., "--jwk", help="Its public signing key: a JWK (Ed25519 or P-256), inline or a file."),
    jurisdiction: str = typer.Option(..., "--jurisdiction", help="Whose law applies to it, e.g. EU, US, SG."),
    addresses: list[str] = typer.Option([], "--address", help="chain:address of a deposit address it owns (repeat)."),
    database_url: str = UrlOpt,
) -> None:
    """Add a counterparty VASP to the directory."""
    from bastion.travel_rule import directory

    pairs = [_address(a, i + 1) for i, a in enumerate(addresses)]
    key = _jwk(jwk)
    url = open_database(database_url, mode="write")
    with sessions_for(url)() as s:
        v = directory.add(s, name=name, lei=lei, endpoint=endpoint, jwk=key, jurisdiction=jurisdiction,
                          addresses=pairs, by="cli")  # fmt: skip
        s.commit()
    typer.echo(f"added {v.name} ({v.lei}, {v.jurisdiction}) at {v.endpoint}, {len(v.addresses)} address(es)")


@vasps_app.command("list")
def vasps_list(database_url: str = UrlOpt, as_json: bool = JsonOpt) -> None:
    """The directory: name, LEI, jurisdiction, endpoint, addresses."""
    from bastion.travel_rule import directory

    url = open_database(database_url)
    with sessions_for(url)() as s:
        rows = directory.listing(s)
    echo_listing(
        rows,
        as_json,
        lambda v: f"{v.lei}  {v.jurisdiction:<4} {v.name}  {v.endpoint}  addresses: {len(v.addresses)}",
        empty="no VASPs (bastion travel-rule vasps add ...)",
        to_json=lambda v: {"name": v.name, "lei": v.lei, "jurisdiction": v.jurisdiction, "endpoint": v.endpoint,
                           "public_jwk": v.public_jwk, "addresses": [f"{c}:{a}" for c, a in v.addresses]},
    )  # fmt: skip


@vasps_app.command("remove")
def vasps_remove(
    lei: str = typer.Argument(..., help="The LEI of the VASP to remove."), database_url: str = UrlOpt
) -> None:
    """Remove a VASP (and its addresses) from the directory."""
    from bastion.travel_rule import directory

    url = open_database(database_url, mode="write")
    with sessions_for(url)() as s:
        directory.remove(s, lei)
        s.commit()
    typer.echo(f"removed {lei.strip().upper()}")


@app.command("identity")
def identity(as_json: bool = JsonOpt) -> None:
    """What a counterparty needs to add this exchange: LEI, name, jurisdiction, endpoint, public key."""
    from bastion.settings import Settings
    from bastion.travel_rule import protocol

    settings = Settings()
    tr = settings.travel_rule
    key = protocol.signing_key(settings.ensure_data_dir(), tr.signing_key_file)
    view = {"lei": tr.lei, "name": tr.name, "jurisdiction": tr.jurisdiction, "endpoint": tr.endpoint,
            "public_jwk": protocol.public_jwk_of(key)}  # fmt: skip
    if as_json:
        typer.echo(json.dumps(view))
        return
    for k, v in view.items():
        typer.echo(f"{k}: {json.dumps(v) if isinstance(v, dict) else v}")


@rules_app.command("show")
def rules_show(database_url: str = UrlOpt) -> None:
    """The active rule set (JSON) and its version."""
    from bastion.travel_rule import rules

    url = open_database(database_url, mode="write")  # the first look installs the built-in rules
    with sessions_for(url)() as s:
        version, ruleset = rules.active(s)
        s.commit()
    typer.echo(json.dumps({"version": version, **ruleset.model_dump(mode="json")}, indent=2))


@rules_app.command("load")
def rules_load(
    path: Path = typer.Argument(..., help="A JSON rule set (see `bastion travel-rule rules show`)."),
    note: str = typer.Option("", "--note", help="Why this version."),
    database_url: str = UrlOpt,
) -> None:
    """Validate a rule set whole, store it as a new version and make it active."""
    from bastion.travel_rule import rules

    try:
        definition = json.loads(path.read_text())
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise CliError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(definition, dict):
        raise CliError(f"{path}: a JSON object with `rules`")
    url = open_database(database_url, mode="write")
    with sessions_for(url)() as s:
        version = rules.install(s, definition, by="cli", note=note or None)
        s.commit()
    typer.echo(f"travel rules version {version} active")


@prices_app.command("set")
def prices_set(
    asset: str = typer.Argument(..., help="e.g. ETH (or USD for the USD->EUR rate)."),
    currency: str = typer.Argument(..., help="EUR or USD."),
    price: str = typer.Argument(..., help="The price of one unit of the asset in the currency."),
    day: str = typer.Option("", "--day", help="YYYY-MM-DD (default: today, UTC)."),
    database_url: str = UrlOpt,
) -> None:
    """Store the day's price (the latest on or before a day is used for it)."""
    from bastion.travel_rule import rules

    value = decimal_argument(price, "price")
    try:
        on = date.fromisoformat(day) if day else datetime.now(UTC).date()
    except ValueError:
        raise CliError(f"--day: not YYYY-MM-DD: {day!r}") from None
    url = open_database(database_url, mode="write")
    with sessions_for(url)() as s:
        rules.set_price(s, on, asset, currency.upper(), value)
        s.commit()
    typer.echo(f"{asset.upper()} = {value} {currency.upper()} on {on}")


@app.command("sweep")
def sweep(
    now: str = typer.Option("", "--now", help="ISO time to sweep as of (default: now); for replays and tests."),
    database_url: str = UrlOpt,
) -> None:
    """Return every held deposit whose deadline has passed (each audited, its user alerted)."""
    from bastion.db.sealing import Keyring
    from bastion.settings import Settings
    from bastion.travel_rule import flows, protocol

    try:
        at = datetime.fromisoformat(now).astimezone(UTC) if now else datetime.now(UTC)
    except ValueError:
        raise CliError(f"--now: not an ISO time: {now!r}") from None
    settings = Settings()
    tr = settings.travel_rule
    me = protocol.Identity(tr.lei, tr.name, tr.jurisdiction, tr.endpoint,
                           protocol.signing_key(settings.ensure_data_dir(), tr.signing_key_file))  # fmt: skip
    ctx = flows.Context(me, Keyring.derived(settings.secret_key_bytes(), flows.SEAL_PURPOSE), at, tr.hold_days,
                        tr.message_window_seconds, "cli")  # fmt: skip
    url = open_database(database_url, mode="write")
    with sessions_for(url)() as s:
        returned = flows.sweep(s, ctx)
        s.commit()
    typer.echo(
        f"returned {len(returned)} held deposit(s)"
        + (f": {', '.join(str(d.id) for d in returned)}" if returned else "")
    )
