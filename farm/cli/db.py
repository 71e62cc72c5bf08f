"""``farm db upgrade|downgrade|current``: schema migrations (Alembic) on the configured database."""

from __future__ import annotations

from typing import Annotated

import typer

from farm.cli._output import console
from orchestrator import storage
from orchestrator.config import load_settings

app = typer.Typer(help="Create and migrate the database schema.", no_args_is_help=True,
                  add_completion=False)


@app.command("upgrade")
def upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Upgrade the schema (default: to the newest revision)."""
    engine = storage.migration_engine(load_settings())
    storage.upgrade(engine, revision)
    console.print(f"database at revision {storage.current_revision(engine)}")


@app.command("downgrade")
def downgrade(revision: Annotated[str, typer.Argument(help="target revision, e.g. -1 or base")]
              ) -> None:
    """Downgrade the schema to an older revision."""
    engine = storage.migration_engine(load_settings())
    storage.downgrade(engine, revision)
    console.print(f"database at revision {storage.current_revision(engine) or 'base (empty)'}")


@app.command("current")
def current() -> None:
    """Print the database's schema revision and the newest one this farm knows."""
    engine = storage.migration_engine(load_settings())
    console.print(f"current: {storage.current_revision(engine) or 'none'}  "
                  f"head: {storage.head_revision()}")
