"""jobs: a typed, versioned spec and a task id in place of the free-form config

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 13:10:00

``jobs.config`` held the protocol merged with ``repeats``, the Celery ``task_id`` and, for imported
jobs, ``imported_from``. Now:

- ``jobs.spec``: the protocol as ``orchestrator.jobspec.JobSpec``'s versioned JSON. A key an old
  row lacks (the executor used to fill it from the settings of the moment) gets the default this
  revision shipped with, written out below so the migration never changes with the code.
- ``jobs.task_id``: its own column.
- ``imported_from``: moved onto the job's sessions (``environment.imported_from``), the evidence it
  describes; imported jobs have no spec.

The downgrade rebuilds ``config`` from all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPEC_VERSION = 1
#: the protocol defaults of this revision (orchestrator/config.py as of 0003)
DEFAULTS: dict[str, Any] = {
    "repeats": 3, "warmup_runs": 1, "warmup_min_secs": 0.5, "num_runs": 20, "min_secs": 1.0,
    "max_secs": 60.0, "session_timeout_s": 600.0, "max_temp_c": 37.0, "min_battery": 30,
    "gate_max_wait_s": 300.0, "gate_poll_s": 5.0, "device_retries": 3, "pin": None,
}
_INTS = ("repeats", "warmup_runs", "num_runs", "min_battery", "device_retries")

jobs = sa.table("jobs", sa.column("id", sa.String), sa.column("config", sa.JSON),
                sa.column("spec", sa.JSON), sa.column("task_id", sa.String))
sessions = sa.table("sessions", sa.column("id", sa.Integer), sa.column("job_id", sa.String),
                    sa.column("environment", sa.JSON))


def _spec(config: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"version": SPEC_VERSION}
    for key, default in DEFAULTS.items():
        value = config.get(key, default)
        if value is not None and key != "pin":
            value = int(value) if key in _INTS else float(value)
        spec[key] = value
    return spec


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("spec", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("task_id", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    for job_id, config in conn.execute(sa.select(jobs.c.id, jobs.c.config)).all():
        config = config or {}
        imported = config.get("imported_from")
        if imported is not None:
            for session_id, environment in conn.execute(
                    sa.select(sessions.c.id, sessions.c.environment)
                    .where(sessions.c.job_id == job_id)).all():
                conn.execute(sa.update(sessions).where(sessions.c.id == session_id).values(
                    environment={**(environment or {}), "imported_from": list(imported)}))
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(
            spec=None if imported is not None else _spec(config),
            task_id=config.get("task_id")))
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("config")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("config", sa.JSON(), nullable=True))
    conn = op.get_bind()
    for job_id, spec, task_id in conn.execute(
            sa.select(jobs.c.id, jobs.c.spec, jobs.c.task_id)).all():
        config: dict[str, Any] = {}
        if spec is not None:
            config = {key: value for key, value in spec.items() if key != "version"}
            if config.get("pin") is None:
                config.pop("pin", None)
        else:
            files: set[str] = set()
            for (environment,) in conn.execute(sa.select(sessions.c.environment)
                                               .where(sessions.c.job_id == job_id)).all():
                files.update((environment or {}).get("imported_from", []))
            config = {"imported_from": sorted(files)}
        if task_id:
            config["task_id"] = task_id
        conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(config=config))
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("config", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("task_id")
        batch.drop_column("spec")
