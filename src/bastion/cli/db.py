"""`bastion db ...`: schema migrations."""

from __future__ import annotations

import typer

from bastion.cli.common import database_url_option, describe_database, note, redact, resolve_database_url

app = typer.Typer(help="Database schema: migrations shipped with Bastion.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    database_url: str = database_url_option(),
    revision: str = typer.Option("heads", help="Target revision; 'heads' brings every domain up to date."),
) -> None:
    """Create or upgrade the schema (every domain's branch); creates a new SQLite file."""
    from bastion.db.migrate import current_heads, upgrade

    target = resolve_database_url(database_url)
    note(describe_database(target, explicit=bool(database_url)))
    upgrade(target, revision)
    typer.echo(f"database at {redact(target)} is at {', '.join(sorted(current_heads(target)))}")


@app.command("heads")
def heads() -> None:
    """List the migration heads shipped (one per domain branch)."""
    from bastion.db.migrate import script_heads

    for h in sorted(script_heads()):
        typer.echo(h)
