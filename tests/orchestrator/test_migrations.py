"""The schema exists only through migrations: upgrade, downgrade, upgrade again, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from orchestrator import storage
from orchestrator.schema import Base

TABLES = {"devices", "models", "tools", "runs", "jobs", "sessions"}


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert storage.current_revision(engine) is None
        storage.upgrade(engine)
        assert storage.current_revision(engine) == storage.head_revision()
        assert set(inspect(engine).get_table_names()) >= TABLES

        storage.downgrade(engine, "base")
        assert storage.current_revision(engine) is None
        assert not TABLES & set(inspect(engine).get_table_names())

        storage.upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_orm(database_url: str) -> None:
    """A model change without a migration shows up here as a difference."""
    engine = create_engine(database_url)
    try:
        storage.upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_session_columns_speak_the_parser_vocabulary() -> None:
    from orchestrator.results import MEASURE_FIELDS

    columns = set(Base.metadata.tables["sessions"].columns.keys())
    assert set(MEASURE_FIELDS) <= columns
    assert {"model_sha256", "tool_name", "tool_version", "tool_sha256", "device_fingerprint",
            "command", "raw_output", "temp_before_c", "temp_after_c", "environment"} <= columns
