"""The schema exists only through migrations: upgrade, downgrade, upgrade again, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session as DbSession

from orchestrator import storage
from orchestrator.jobspec import JobSpec
from orchestrator.schema import Base, Job, utcnow

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


def test_0003_turns_job_configs_into_specs_and_back(database_url: str) -> None:
    """Rows written before 0003 keep everything: the protocol (missing keys get 0003's defaults),
    the task id, and an imported job's files (moved onto its sessions)."""
    engine = create_engine(database_url)
    measured = {"repeats": 5, "num_runs": 7, "min_secs": 0.25, "pin": "big", "task_id": "t-1"}
    try:
        storage.upgrade(engine, "0002")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO devices (id, serial, kind, state, cpu, info, first_seen, "
                              "last_seen) VALUES (1, 'local', 'local', 'device', '{}', '{}', "
                              ":t, :t)"), {"t": utcnow()})
            conn.execute(text("INSERT INTO models (id, name, sha256, size_bytes, path, provenance, "
                              "inputs, outputs, metadata, created_at) VALUES (1, 'm', :sha, 1, "
                              "'/m', 'user', '[]', '[]', '{}', :t)"), {"sha": "a" * 64, "t": utcnow()})
            conn.execute(text("INSERT INTO runs (id, status, trigger, spec, created_at) "
                              "VALUES ('r', 'done', 'manual', '{}', :t)"), {"t": utcnow()})
            for job_id, config in (("measured", measured), ("imported", {"imported_from": ["a.txt"]})):
                conn.execute(text("INSERT INTO jobs (id, run_id, seq, device_id, model_id, delegate, "
                                  "num_threads, config, status, attempts) VALUES (:id, 'r', 0, 1, 1, "
                                  "'cpu', 1, :config, 'done', 1)"),
                             {"id": job_id, "config": json.dumps(config)})
            conn.execute(text("INSERT INTO sessions (job_id, repeat_index, status, imported, ops, "
                              "command, raw_output, environment) VALUES ('imported', 0, 'ok', :y, "
                              "'[]', '[]', '', '{}')"), {"y": True})

        storage.upgrade(engine)
        with DbSession(engine) as db:
            job = db.get(Job, "measured")
            assert job is not None and job.task_id == "t-1"
            assert job.spec == JobSpec.from_json({
                "version": 1, "repeats": 5, "warmup_runs": 1, "warmup_min_secs": 0.5, "num_runs": 7,
                "min_secs": 0.25, "max_secs": 60.0, "session_timeout_s": 600.0, "max_temp_c": 37.0,
                "min_battery": 30, "gate_max_wait_s": 300.0, "gate_poll_s": 5.0,
                "device_retries": 3, "pin": "big"})
            imported = db.get(Job, "imported")
            assert imported is not None and imported.spec is None and imported.task_id is None
            assert imported.sessions[0].environment == {"imported_from": ["a.txt"]}

        storage.downgrade(engine, "0002")
        with engine.connect() as conn:
            configs = {row[0]: row[1] if isinstance(row[1], dict) else json.loads(row[1])
                       for row in conn.execute(text("SELECT id, config FROM jobs"))}
        assert configs["imported"] == {"imported_from": ["a.txt"]}
        assert configs["measured"]["task_id"] == "t-1"
        assert {k: configs["measured"][k] for k in measured} == measured
    finally:
        engine.dispose()


def test_the_head_revision_constant_is_alembics_head() -> None:
    """``storage.HEAD_REVISION`` must name the newest migration: add a migration, update it."""
    scripts = ScriptDirectory(str(Path(storage.__file__).resolve().parent.parent / "migrations"))
    assert scripts.get_current_head() == storage.HEAD_REVISION
