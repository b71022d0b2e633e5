"""`bastion sim ...`: write seeded, realistic inputs for the other commands (snapshots, traffic...)."""

from __future__ import annotations

from pathlib import Path

import typer

from bastion.cli.common import database_url_option, parse_month, redact

app = typer.Typer(
    help="Simulators: seeded, realistic exchange data for demos, tests and benchmarks.", no_args_is_help=True
)


@app.command("liabilities")
def liabilities(
    users: int = typer.Option(..., "--users", min=1, help="Number of users."),
    assets: int = typer.Option(22, "--assets", min=1, max=1024, help="Assets in the universe (real tickers first)."),
    out: Path = typer.Option(..., "--out", help="Snapshot directory to write (assets.csv, balances.csv)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same snapshot."),
    insolvent: int = typer.Option(0, "--insolvent", min=0, help="Users made to owe more than their collateral."),
    parquet: bool = typer.Option(False, "--parquet", help="Write balances.parquet instead of balances.csv."),
) -> None:
    """A liabilities snapshot for `bastion por prove`: heavy-tailed balances, margin users, whales."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from bastion.sim.liabilities import TRUTH_FILE, simulate_liabilities

    if insolvent > users:
        raise typer.BadParameter("cannot exceed --users", param_hint="--insolvent")
    console = Console(stderr=True)
    started = time.perf_counter()
    with Progress(
        TextColumn("simulating users"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=users < 200_000,  # a bar for small sizes is noise
        transient=True,
    ) as progress:
        task = progress.add_task("users", total=users)
        truth = simulate_liabilities(
            out,
            users=users,
            assets=assets,
            seed=seed,
            insolvent=insolvent,
            parquet=parquet,
            on_progress=lambda n: progress.advance(task, n),
        )
    elapsed = time.perf_counter() - started
    typer.echo(
        f"wrote {out}: {truth.users} users, {truth.rows} rows ({truth.rows / truth.users:.2f} per user), "
        f"{len(truth.assets)} assets, {truth.margin_users} with debt, {len(truth.whale_uids)} whales, "
        f"{len(truth.insolvent_uids)} insolvent, in {elapsed:.1f} s; ground truth in {out / TRUTH_FILE}"
    )


@app.command("wallets")
def wallets(
    round_dir: Path = typer.Option(..., "--round", help="Round directory whose round.json the wallets sign."),
    out: Path = typer.Option(..., "--out", help="Wallet set CSV to write."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same keys and signatures."),
    shortfall: list[str] = typer.Option(
        [], "--shortfall", help="ASSET=FRACTION: hold that much less than the asset's liabilities (e.g. BTC=0.03)."
    ),
) -> None:
    """A wallet set with real keys and real signatures over the round's challenge, for `bastion por reserves`."""
    from decimal import Decimal, InvalidOperation

    from bastion.por.format.round import load_round_json, round_path
    from bastion.sim.wallets import make_wallet_set

    gaps: dict[str, Decimal] = {}
    for item in shortfall:
        asset, _, fraction = item.partition("=")
        try:
            value = Decimal(fraction)
        except InvalidOperation:
            value = Decimal(-1)
        if not asset or not 0 <= value < 1:
            raise typer.BadParameter(
                f"{item!r}: expected ASSET=FRACTION with 0 <= FRACTION < 1", param_hint="--shortfall"
            )
        gaps[asset.upper()] = value
    round_file = round_path(round_dir)
    if not round_file.is_file():
        raise typer.BadParameter(f"{round_file} does not exist", param_hint="--round")
    made = make_wallet_set(load_round_json(round_file), out, seed=seed, shortfall=gaps)
    typer.echo(f"wrote {made.path}: {made.wallets} wallets in {made.rows} rows, signed over {round_file}'s challenge")


@app.command("month")
def month(
    month: str = typer.Option(..., "--month", help="The month to simulate, YYYY-MM."),
    users: int = typer.Option(400, "--users", min=20, help="Exchange users (keys, liquidations... scale with it)."),
    out: Path = typer.Option(..., "--out", help="Directory for ground-truth.json (and the embedded database)."),
    db: str = database_url_option(
        "SQLAlchemy URL of the database the simulated service writes to (default: SQLite OUT/bastion.sqlite; "
        "BASTION_DATABASE_URL is not read, so a simulation never writes to the real database by accident).",
        envvar=False,
    ),
    seed: int = typer.Option(7, "--seed", help="Same seed and month, same traffic."),
) -> None:
    """A month of exchange activity through the real service (started in-process): logins and withdrawals with
    attacks, API keys, liquidations and ADL, cooling-offs, mistaken deposits; ground truth in OUT."""
    import time

    from bastion.cli.sim_month import simulate_month
    from bastion.sim.month import TRUTH_FILE

    parse_month(month)
    from bastion.cli.common import describe_database, note

    note(describe_database(db or f"sqlite:///{(Path(out) / 'bastion.sqlite').resolve()}", explicit=True))
    started = time.perf_counter()
    try:
        t = simulate_month(out, month, users=users, seed=seed, db_url=db or None, progress=True)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    r, k, f, p = t.risk, t.keys, t.funds, t.protection
    typer.echo(
        f"{month}: {r.withdrawals} withdrawals, {r.attacks} attacks ({r.attacks_caught} caught), "
        f"{r.intercepted} intercepted worth {r.intercepted_value_usd} USD; {k.created} API keys, {k.swept} swept; "
        f"{f.liquidations} liquidations; {p.activations} cooling-offs, {p.mistaken_deposits} mistaken deposits; "
        f"in {time.perf_counter() - started:.1f} s"
    )
    typer.echo(f"ground truth: {Path(out) / TRUTH_FILE}")
    database = db or f"sqlite:///{(Path(out) / 'bastion.sqlite').resolve()}"
    typer.echo(f"database: {redact(database)}")
    typer.echo(f"report: bastion report monthly --month {month} --database-url '{database}' --round ROUND_DIR")
