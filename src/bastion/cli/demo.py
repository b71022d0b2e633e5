"""`bastion demo`: the main job on embedded defaults (see `_demo_month`)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo-out"), help="Directory for everything the demo writes (replaced)."),
        month: str = typer.Option(None, help="The month to simulate, YYYY-MM (default: last month)."),
        users: int = typer.Option(400, min=20, help="Users whose month of traffic goes through the service."),
        holders: int = typer.Option(20_000, min=10, help="Users in the liabilities snapshot that is proven."),
        pdf: bool = typer.Option(True, help="Print the report to PDF with headless Chromium."),
    ) -> None:
        """An exchange's month end to end: traffic through the service, the proof of reserves, the report."""
        from bastion.cli._demo_month import run_month_demo

        run_month_demo(out, month, users, holders, pdf)
