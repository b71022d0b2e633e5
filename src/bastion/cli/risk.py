"""`bastion risk ...`: rule sets, monthly metrics, simulated traffic and its replay through the service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import typer

from bastion.cli.common import CliError, database_url_option, open_database, parse_month

app = typer.Typer(help="Withdrawal risk: rules, metrics, simulated traffic.", no_args_is_help=True)
rules_app = typer.Typer(help="Rule sets (scenarios) as versioned data.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

UrlOpt = database_url_option()


def _session(url: str, mode: Literal["read", "write"] = "read"):  # type: ignore[no-untyped-def]
    from bastion.db.session import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(open_database(url, mode=mode)))()


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
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The rule set, JSON (see `rules show`)."),
    by: str = typer.Option(..., "--by", help="Who makes this version (audit)."),
    note: str = typer.Option("", help="Why."),
    activate: bool = typer.Option(False, help="Make it the active version at once."),
    url: str = UrlOpt,
) -> None:
    """Store FILE (JSON) as a new rule set version after validating it."""
    from bastion.errors import InvalidInputError
    from bastion.risk import admin

    try:
        definition = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        typer.echo(f"error: {file}: not JSON: {exc}", err=True)
        raise typer.Exit(2) from None
    with _session(url, "write") as s:
        try:
            r = admin.create_ruleset(s, definition, by, note or None, activate)
        except InvalidInputError as exc:
            typer.echo(f"refused: {exc}", err=True)
            raise typer.Exit(2) from None
        s.commit()
    typer.echo(f"stored version {r.version}{' (active)' if r.active else ''}")


@rules_app.command("activate")
def rules_activate(
    version: int = typer.Argument(..., help="The rule set version to activate."), url: str = UrlOpt
) -> None:
    """Make VERSION the active rule set (every service worker picks it up within seconds)."""
    from bastion.risk import admin

    with _session(url) as s:
        admin.activate_ruleset(s, version)
        s.commit()
    typer.echo(f"version {version} is active")


@app.command("metrics")
def metrics(
    month: str = typer.Option(..., "--month", help="The month, YYYY-MM (UTC)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout (full precision) instead of tables."),
    url: str = UrlOpt,
) -> None:
    """The month's withdrawal-risk figures, as in the monthly security report."""
    from bastion.risk.metrics import monthly

    start, end = parse_month(month)
    with _session(url) as s:
        r = monthly(s, start, end)
    data: dict[str, Any] = {
        k: (str(v) if not isinstance(v, (int, float, dict, type(None))) else v) for k, v in r.__dict__.items()
    }
    data["daily_interceptions"] = {d.isoformat(): n for d, n in r.daily_interceptions.items()}
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from bastion.cli.output import figure_table, print_tables

    rate = f"{r.false_positive_rate:.1%}"
    review = "-" if r.median_review_seconds is None else f"{r.median_review_seconds / 60:,.1f} min"
    summary = figure_table(
        f"withdrawal risk, {month}",
        [
            ("withdrawals evaluated", f"{r.withdrawals_evaluated:,}"),
            ("allowed", f"{r.allowed:,}"),
            ("held", f"{r.held:,}"),
            ("blocked", f"{r.blocked:,}"),
            ("pending review", f"{r.pending_review:,}"),
            ("withdrawals intercepted", f"{r.withdrawals_intercepted:,}"),
            ("users protected", f"{r.users_protected:,}"),
            ("value preserved (USD)", f"{r.value_preserved_usd:,.2f}"),
            ("false positives", f"{r.false_positives:,}"),
            ("false positive rate", rate),
            ("median review time", review),
        ],
    )
    hits = figure_table(
        "rule hits", [(rule, f"{n:,}") for rule, n in sorted(r.hits_per_rule.items(), key=lambda kv: -kv[1])],
        label="rule", value="hits",
    )
    daily = figure_table(
        "interceptions per day", [(d.isoformat(), f"{n:,}") for d, n in sorted(r.daily_interceptions.items())],
        label="day", value="intercepted",
    )
    print_tables(summary, hits if r.hits_per_rule else None, daily if r.daily_interceptions else None)


@app.command("simulate")
def simulate(
    out: Path = typer.Option(Path("risk-month.jsonl"), help="Where to write the events (JSON lines)."),
    users: int = typer.Option(1000, min=10, help="Simulated users."),
    seed: int = typer.Option(7, help="Same seed, same traffic."),
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
    users: int = typer.Option(1000, min=10, help="Simulated users (as for `risk simulate`)."),
    seed: int = typer.Option(7, help="Same seed, same traffic."),
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
    from bastion.cli.output import progress_bar

    try:
        with progress_bar() as bar, httpx.Client(base_url=base_url, timeout=30, headers=headers) as c:
            task = bar.add_task("replaying events", total=len(t.events))
            rep = replay(t, c, progress=lambda i, n: bar.update(task, completed=i, total=n))
            bar.update(task, completed=len(t.events))
    except httpx.HTTPStatusError as exc:
        raise CliError(f"{base_url}: {exc.request.method} {exc.request.url.path} answered {exc.response.status_code}"
                       " (is --token the service's operator token?)") from None  # fmt: skip
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the service at {base_url}: {exc} (is `bastion serve` running there?)") from None
    typer.echo(
        f"attacks caught {rep.attacks_caught}/{rep.attacks} ({rep.catch_rate:.1%}); "
        f"legit held {rep.legit_held}/{rep.legit_withdrawals} ({rep.legit_hold_rate:.2%}); "
        f"value preserved {rep.value_preserved_usd:,.2f} USD"
    )
