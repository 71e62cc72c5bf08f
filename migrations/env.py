"""Alembic environment: runs migrations on the connection or URL the farm hands over.

``orchestrator.storage`` calls Alembic programmatically and passes its engine's connection in
``config.attributes["connection"]``; the ``alembic`` command line (alembic.ini) passes a URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from orchestrator.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///.farm/farm.db")
    with engine.connect() as conn:
        _run(conn)
