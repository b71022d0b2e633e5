"""`bastion por ...`: the Proof of Reserves commands.

Reserves side: `challenge`, `reserves verify`, `report`. (The liabilities side, `prove`, `verify`,
`user-proof` and `verify-user`, registers on the same `app`; `--help` lists them all in workflow order.)
Heavy imports stay inside command bodies.
Exit codes: 0 all good; 1 an asset under 100% or a wallet proof that failed (named on stderr/stdout);
2 input that cannot be read (file, row and field named).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from bastion.por.reserves.verify import BalanceSource

# The order a round is made and checked in: the exchange proves, has its wallets sign the challenge, verifies
# them and publishes the report; an auditor verifies the round; each user gets and checks their own proof.
WORKFLOW = ("prove", "challenge", "reserves", "report", "verify", "user-proof", "verify-user")


class WorkflowGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: WORKFLOW.index(n) if n in WORKFLOW else len(WORKFLOW))


app = typer.Typer(
    help="Proof of Reserves: liabilities proof, reserve wallets, the reserve report.",
    no_args_is_help=True,
    cls=WorkflowGroup,
)
reserves_app = typer.Typer(help="Reserve wallets: verify ownership and balances for a round.", no_args_is_help=True)
app.add_typer(reserves_app, name="reserves")

EXIT_NOT_RESERVED = 1
EXIT_BAD_INPUT = 2


def _input_error(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=EXIT_BAD_INPUT)


@app.command("challenge")
def challenge(round_dir: Path = typer.Argument(..., help="The round directory (holds round.json).")) -> None:
    """Print the message every reserve wallet must sign for this round."""
    from bastion.por.reserves.challenge import challenge_message
    from bastion.por.reserves.errors import ReservesInputError
    from bastion.por.reserves.round_view import load_round

    try:
        rnd = load_round(round_dir)
    except ReservesInputError as exc:
        raise _input_error(exc) from None
    typer.echo(challenge_message(rnd))


def _sources(bitcoin_rpc: str, evm_rpc: list[str], tokens: list[str], nodes: Sequence[str] = ()) -> list[BalanceSource]:
    from bastion.por.reserves.native_sources import native_source
    from bastion.por.reserves.sources import BitcoinCoreSource, EvmRpcSource

    sources: list[BalanceSource] = []
    if bitcoin_rpc:
        sources.append(BitcoinCoreSource(bitcoin_rpc))
    token_map: dict[str, dict[str, tuple[str, int]]] = {}
    for spec in tokens:
        try:
            where, target = spec.split("=", 1)
            chain, asset = where.split(":", 1)
            contract, decimals = target.split(":", 1)
            token_map.setdefault(chain.lower(), {})[asset.upper()] = (contract, int(decimals))
        except ValueError:
            raise typer.BadParameter(f"--token {spec!r}: expected CHAIN:ASSET=CONTRACT:DECIMALS") from None
    for spec in evm_rpc:
        chain, sep, url = spec.partition("=")
        if not sep or not url:
            raise typer.BadParameter(f"--evm-rpc {spec!r}: expected CHAIN=URL")
        sources.append(EvmRpcSource(chain.lower(), url, tokens=token_map.get(chain.lower())))
    for spec in nodes:
        chain, sep, url = spec.partition("=")
        if not sep or not url:
            raise typer.BadParameter(f"--node {spec!r}: expected CHAIN=URL", param_hint="--node")
        try:
            sources.append(native_source(chain.lower(), url))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--node") from None
    return sources


@reserves_app.command("verify")
def reserves_verify(
    wallets: Path = typer.Argument(..., help="Wallet set, .csv or .parquet."),
    round_dir: Path = typer.Option(..., "--round", help="The round directory (holds round.json)."),
    registry: Path | None = typer.Option(
        None, "--registry", help="CSV chain,address,exchange[,round_id] of addresses others published."
    ),
    bitcoin_rpc: str = typer.Option(
        "",
        "--bitcoin-rpc",
        help="Bitcoin Core JSON-RPC URL (http://user:pass@host:8332): BTC balances by scantxoutset.",
    ),
    evm_rpc: list[str] = typer.Option([], "--evm-rpc", help="CHAIN=URL of an EVM JSON-RPC node; repeatable."),
    token: list[str] = typer.Option(
        [], "--token", help="CHAIN:ASSET=CONTRACT:DECIMALS, an ERC-20 read with balanceOf; repeatable."
    ),
    node: list[str] = typer.Option(
        [],
        "--node",
        help="CHAIN=URL of a native chain's node API (xrpl, solana, near, aptos, polkadot sidecar, cardano Koios, "
        "ton toncenter v3, tron, dogecoin, litecoin, bitcoin-cash): balances at the round's height, NEAR/Aptos account "
        "keys; repeatable.",
    ),
    out: Path | None = typer.Option(None, "--out", help="Where to write the result (default ROUND_DIR/reserves.json)."),
) -> None:
    """Verify every wallet's ownership proof and balance; write reserves.json with the wallet set (as
    wallets.csv) and prices.json beside it, for publication; print the reserve table."""
    from bastion.cli.output import print_reserve_report
    from bastion.por.reserves.errors import ReservesInputError
    from bastion.por.reserves.report import RESERVES_FILE, build_report, round_reserves_of, write_reserves
    from bastion.por.reserves.round_view import load_round
    from bastion.por.reserves.verify import BalanceSourceError, read_registry, verify_wallet_set
    from bastion.por.reserves.walletset import read_wallet_set

    try:
        rnd = load_round(round_dir)
        wallet_set = read_wallet_set(wallets)
        claimed = read_registry(registry) if registry else None
    except ReservesInputError as exc:
        raise _input_error(exc) from None
    try:
        sources = _sources(bitcoin_rpc, evm_rpc, token, node)
        result = verify_wallet_set(rnd, wallet_set, registry=claimed, sources=sources)
    except BalanceSourceError as exc:
        raise _input_error(exc) from None
    from bastion.por.reserves.publish import publish_reserve_files

    target = out or round_dir / RESERVES_FILE
    published = publish_reserve_files(rnd, wallets, target.parent)
    write_reserves(result, target, published)
    report = build_report(round_reserves_of(result))
    print_reserve_report(report, {name: a.decimals for name, a in rnd.assets.items()})
    typer.echo(f"wrote {target}")
    if not report.ok:
        raise typer.Exit(code=EXIT_NOT_RESERVED)


@app.command("report")
def report(
    round_dir: Path = typer.Argument(..., help="The round directory (round.json and reserves.json)."),
    previous: Path | None = typer.Option(None, "--previous", help="The previous round's directory, for the change."),
    html_out: Path | None = typer.Option(None, "--html", help="Also write the report as a standalone HTML page."),
    out: Path | None = typer.Option(None, "--out", help="Also write the report as JSON to this file."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the report as JSON on stdout (exact figures) instead of the table."
    ),
) -> None:
    """The reserve report: per asset user assets, wallet assets, reserve ratio, difference, change; the verdict.

    Exit code 1 when an asset is under 100% or a wallet row failed verification."""
    import json

    from bastion.cli.output import print_reserve_report
    from bastion.por.reserves.errors import ReservesInputError
    from bastion.por.reserves.report import build_report, load_round_reserves, report_html, report_json

    try:
        current = load_round_reserves(round_dir)
        prev = load_round_reserves(previous) if previous else None
    except ReservesInputError as exc:
        raise _input_error(exc) from None
    result = build_report(current, prev)
    document = json.dumps(report_json(result), indent=2) + "\n"
    # With --json, stdout holds the JSON only: what the files were written to goes to stderr.
    def said(message: str) -> None:
        typer.echo(message, err=as_json)

    if as_json:
        typer.echo(document, nl=False)
    else:
        print_reserve_report(result, {name: a.decimals for name, a in current.round.assets.items()})
    if html_out:
        html_out.write_text(report_html(result), encoding="utf-8")
        said(f"wrote {html_out}")
    if out:
        out.write_text(document, encoding="utf-8")
        said(f"wrote {out}")
    if not result.ok:
        raise typer.Exit(code=EXIT_NOT_RESERVED)
