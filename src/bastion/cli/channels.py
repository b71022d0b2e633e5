"""`bastion channels ...`: the registry of the exchange's official channels behind GET /v1/public/verify.

bastion channels add website https://www.bastion.example
bastion channels add email "Bastion <alerts@bastion.example>"
bastion channels add phone "+44 20 7946 0000" --note "support line"
bastion channels add social https://t.me/bastion_official
bastion channels list [--kind website]
bastion channels remove 3
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer

from bastion.cli.common import database_url_option, echo_listing, open_database, sessions_for

app = typer.Typer(
    help="Official channels (website, email sender, phone, social handle) users can check.", no_args_is_help=True
)

UrlOpt = database_url_option()


def _view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "value": row.value,
        "note": row.note,
        "added_at": row.added_at.isoformat(),
        "added_by": row.added_by,
    }


@app.command("add")
def add(
    kind: str = typer.Argument(..., help="website, email, phone or social"),
    value: str = typer.Argument(..., help="as users meet it; stored normalised"),
    note: str = typer.Option("", "--note", help="What it is for (shown to users who check it)."),
    database_url: str = UrlOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """Register an official channel."""
    from bastion.notify import channels

    url = open_database(database_url, mode="write")
    with sessions_for(url)() as s:
        row = channels.add(s, kind, value, note=note, actor="cli", now=datetime.now(UTC))
        s.commit()
        view = _view(row)
    typer.echo(json.dumps(view) if as_json else f"{view['id']}  {view['kind']}  {view['value']}")


@app.command("list")
def list_(
    kind: str = typer.Option(None, "--kind", help="Only this kind."),
    database_url: str = UrlOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """Every registered official channel."""
    from bastion.notify import channels

    url = open_database(database_url)
    with sessions_for(url)() as s:
        rows = [_view(r) for r in channels.list_all(s, kind)]
    echo_listing(
        rows,
        as_json,
        lambda r: f"{r['id']:>4}  {r['kind']:<8} {r['value']}" + (f"  ({r['note']})" if r["note"] else ""),
        empty="no official channels (bastion channels add KIND VALUE)",
    )


@app.command("remove")
def remove(
    channel_id: int = typer.Argument(..., help="The id `bastion channels list` shows."), database_url: str = UrlOpt
) -> None:
    """Remove an official channel (it stops being confirmed at once)."""
    from bastion.notify import channels

    url = open_database(database_url, mode="write")
    with sessions_for(url)() as s:
        row = channels.remove(s, channel_id)
        s.commit()
    typer.echo(f"removed {row.kind} {row.value}")
