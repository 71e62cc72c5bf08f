"""``farm db``: schema migrations (Alembic) on the configured database."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import Engine, create_engine

from orchestrator import storage
from orchestrator.cli._common import console, settings

db_app = typer.Typer(help="Create and migrate the database schema.", no_args_is_help=True)


def _engine() -> Engine:
    # A plain engine: `farm db` must work on a database that is not at head yet.
    current = settings()
    if current.values["database_url"].value is None:
        storage._prepare_sqlite_home(current)
    return create_engine(current.effective_database_url)


@db_app.command("upgrade")
def upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Upgrade the schema (default: to the newest revision)."""
    engine = _engine()
    storage.upgrade(engine, revision)
    console.print(f"database at revision {storage.current_revision(engine)}")


@db_app.command("downgrade")
def downgrade(revision: Annotated[str, typer.Argument(help="target revision, e.g. -1 or base")]
              ) -> None:
    """Downgrade the schema to an older revision."""
    engine = _engine()
    storage.downgrade(engine, revision)
    console.print(f"database at revision {storage.current_revision(engine) or 'base (empty)'}")


@db_app.command("current")
def current() -> None:
    """Print the database's schema revision and the newest one this farm knows."""
    engine = _engine()
    console.print(f"current: {storage.current_revision(engine) or 'none'}  "
                  f"head: {storage.head_revision()}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
