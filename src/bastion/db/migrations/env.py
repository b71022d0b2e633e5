"""Alembic environment: runs on a connection handed in by `bastion.db.migrate`, or on the URL given."""

from __future__ import annotations

from alembic import context

from bastion.db.session import is_sqlite, make_engine

config = context.config
# Upgrading runs the revision scripts and needs no models. Drafting a revision with autogenerate compares with
# the models: its caller hands `bastion.models.metadata` in (docs/dev/service-layout.md), as the storage layer
# never imports the domains above it.
target_metadata = config.attributes.get("target_metadata")


def _run(connection: object) -> None:
    url = config.attributes.get("database_url", "")
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=bool(url) and is_sqlite(url),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url") or ""
    engine = make_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
