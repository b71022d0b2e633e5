"""`bastion db ...`: schema migrations."""

from __future__ import annotations

import typer

app = typer.Typer(help="Database schema: migrations shipped with Bastion.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    url: str = typer.Option("", "--url", help="SQLAlchemy URL (default: BASTION_DATABASE_URL)."),
    revision: str = typer.Option("heads", help="Target revision; 'heads' brings every domain up to date."),
) -> None:
    """Create or upgrade the schema (every domain's branch)."""
    from bastion.db.migrate import current_heads, upgrade
    from bastion.settings import Settings

    target = url or Settings().database_url
    upgrade(target, revision)
    typer.echo(f"database at {_redact(target)} is at {', '.join(sorted(current_heads(target)))}")


@app.command("heads")
def heads() -> None:
    """List the migration heads shipped (one per domain branch)."""
    from bastion.db.migrate import script_heads

    for h in sorted(script_heads()):
        typer.echo(h)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
