"""`bastion risk ...`: rule sets, monthly metrics, simulated traffic and its replay through the service."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Withdrawal risk: rules, metrics, simulated traffic.", no_args_is_help=True)
rules_app = typer.Typer(help="Rule sets (scenarios) as versioned data.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

UrlOpt = typer.Option("", "--url", help="Database URL (default: BASTION_DATABASE_URL).")


def _session(url: str):  # type: ignore[no-untyped-def]
    from bastion.db.session import make_engine, make_sessionmaker
    from bastion.settings import Settings

    return make_sessionmaker(make_engine(url or Settings().database_url))()


@rules_app.command("list")
def rules_list(url: str = UrlOpt) -> None:
    """Versions, which one is active, who made them."""
    from bastion.risk import admin

    with _session(url) as s:
        for r in admin.list_rulesets(s):
            typer.echo(
                f"{r.version:4d} {'*' if r.active else ' '} {r.created_at:%Y-%m-%d %H:%M} "
                f"{r.created_by:<16} {len(r.definition['rules'])} rules  {r.note or ''}"
            )
        s.commit()


@rules_app.command("show")
def rules_show(version: int = typer.Argument(0, help="Version (default: the active one)."), url: str = UrlOpt) -> None:
    """Print a rule set as JSON (edit it and `load` it back as a new version)."""
    from bastion.risk import admin

    with _session(url) as s:
        sets = admin.list_rulesets(s)
        s.commit()
        chosen = next((r for r in sets if (r.version == version if version else r.active)), None)
        if chosen is None:
            raise typer.BadParameter(f"no rule set version {version}")
        typer.echo(json.dumps(chosen.definition, indent=2))


@rules_app.command("load")
def rules_load(
    file: Path = typer.Argument(..., exists=True, dir_okay=False),
    by: str = typer.Option(..., "--by", help="Who makes this version (audit)."),
    note: str = typer.Option("", help="Why."),
    activate: bool = typer.Option(False, help="Make it the active version at once."),
    url: str = UrlOpt,
) -> None:
    """Store FILE (JSON) as a new rule set version after validating it."""
    from bastion.errors import InvalidInputError
    from bastion.risk import admin

    with _session(url) as s:
        try:
            r = admin.create_ruleset(s, json.loads(file.read_text()), by, note or None, activate)
        except InvalidInputError as exc:
            typer.echo(f"refused: {exc}", err=True)
            raise typer.Exit(2) from None
        s.commit()
    typer.echo(f"stored version {r.version}{' (active)' if r.active else ''}")


@rules_app.command("activate")
def rules_activate(version: int, url: str = UrlOpt) -> None:
    """Make VERSION the active rule set (every service worker picks it up within seconds)."""
    from bastion.risk import admin

    with _session(url) as s:
        admin.activate_ruleset(s, version)
        s.commit()
    typer.echo(f"version {version} is active")


@app.command("metrics")
def metrics(
    month: str = typer.Option(..., help="YYYY-MM"), as_json: bool = typer.Option(False, "--json"), url: str = UrlOpt
) -> None:
    """The month's figures for the security report."""
    from datetime import UTC, datetime

    from bastion.risk.metrics import monthly

    y, m = (int(x) for x in month.split("-"))
    start = datetime(y, m, 1, tzinfo=UTC)
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    with _session(url) as s:
        r = monthly(s, start, end)
    data = {k: (str(v) if not isinstance(v, (int, float, dict, type(None))) else v) for k, v in r.__dict__.items()}
    data["daily_interceptions"] = {d.isoformat(): n for d, n in r.daily_interceptions.items()}
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for k, v in data.items():
        typer.echo(f"{k:>24}: {v}")


@app.command("simulate")
def simulate(
    out: Path = typer.Option(Path("risk-month.jsonl"), help="Where to write the events (JSON lines)."),
    users: int = typer.Option(1000, min=10),
    seed: int = typer.Option(7),
) -> None:
    """Write a seeded month of labelled traffic (the label is ground truth the service never sees)."""
    from bastion.sim.risk_traffic import month

    t = month(seed=seed, users=users)
    with out.open("w") as fh:
        for e in t.events:
            fh.write(json.dumps({"route": e.route, "body": e.body, "label": e.label, "attack_id": e.attack_id}) + "\n")
    typer.echo(f"{len(t.events)} events, {len(t.attacks)} attacks -> {out}")


@app.command("replay")
def replay_cmd(
    base_url: str = typer.Option("http://127.0.0.1:8000", help="A running `bastion serve`."),
    users: int = typer.Option(1000, min=10),
    seed: int = typer.Option(7),
    token: str = typer.Option(
        "",
        envvar=["BASTION_TOKEN", "BASTION_OPERATOR_TOKEN"],
        help="A credential with events:write, risk:write, risk:review and risk:admin (or *): `bastion tokens create`.",
    ),
) -> None:
    """Send a simulated month through a running service and score its decisions against the labels."""
    import httpx

    from bastion.sim.risk_traffic import month, replay

    t = month(seed=seed, users=users)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=base_url, timeout=30, headers=headers) as c:
        rep = replay(t, c, progress=lambda i, n: typer.echo(f"  {i}/{n}", err=True))
    typer.echo(
        f"attacks caught {rep.attacks_caught}/{rep.attacks} ({rep.catch_rate:.1%}); "
        f"legit held {rep.legit_held}/{rep.legit_withdrawals} ({rep.legit_hold_rate:.2%}); "
        f"value preserved {rep.value_preserved_usd:,.2f} USD"
    )
