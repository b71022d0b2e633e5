"""The `bastion` command line.

One module a domain (`stark`, `demo`, later `por`, `serve`, `keys`...), each a Typer sub-app registered
here. Command modules import their heavy dependencies (numba, SQLAlchemy...) inside the command bodies so
that `bastion --help` and the user-facing verify commands start fast.
"""

from __future__ import annotations

import typer

from bastion import __version__
from bastion.cli import (
    channels,
    compliance,
    db,
    demo,
    funds,
    keys,
    notify,
    pfund,
    por,
    report,
    risk,
    serve,
    sim,
    stark,
    tokens,
    travel_rule,
)
from bastion.cli import por_liabilities as por_liabilities  # registers prove, verify, user-proof, verify-user
from bastion.cli.common import BastionGroup

app = typer.Typer(
    name="bastion",
    help="Bastion: proof of reserves, withdrawal risk, API keys and the monthly security report.",
    no_args_is_help=True,
    add_completion=False,
    cls=BastionGroup,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bastion {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", envvar="BASTION_DEBUG", help="Show the full traceback of an error (env BASTION_DEBUG=1)."
    ),
) -> None:
    """Bastion command line."""


app.add_typer(stark.app, name="stark")
app.add_typer(sim.app, name="sim")
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(funds.app, name="funds")
app.add_typer(pfund.app, name="pfund")
app.add_typer(risk.app, name="risk")
app.add_typer(compliance.app, name="compliance")
app.add_typer(por.app, name="por")
app.add_typer(report.app, name="report")
app.add_typer(tokens.app, name="tokens")
app.add_typer(tokens.users_app, name="users")
app.add_typer(notify.app, name="notify")
app.add_typer(channels.app, name="channels")
app.add_typer(travel_rule.app, name="travel-rule")
serve.register(app)
demo.register(app)


def main() -> None:
    app()
