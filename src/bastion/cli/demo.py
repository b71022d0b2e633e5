"""`bastion demo`: the main job on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo-out"), help="Directory for everything the demo writes."),
        log_rows: int = typer.Option(16, min=4, max=22, help="log2 of the example trace length."),
    ) -> None:
        """Run the largest end-to-end job Bastion has so far and say where its output is."""
        from bastion.cli._example import run_demo

        run_demo(out, log_rows)
