"""`bastion stark ...`: exercise the generic proof engine on its example AIRs."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="The generic zk-STARK engine: example proofs.", no_args_is_help=True)


@app.command("example")
def example(
    air: str = typer.Option("fibonacci", help="Example AIR: fibonacci, range-check or hash-chain."),
    log_rows: int = typer.Option(12, min=3, max=24, help="log2 of the trace length."),
    out: Path | None = typer.Option(None, help="Write the proof bytes to this file."),
) -> None:
    """Prove and verify one example AIR, printing timings and the proof size."""
    from bastion.cli._example import run_example

    run_example(air, log_rows, out)
