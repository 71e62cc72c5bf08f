"""pools: jobs that run once on any phone of a pool, ordered by their expected duration

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 01:30:00

- ``pools``: a set of phones a pool submission spreads its jobs over (``members``: serials), named
  by what ``--devices`` said (``selector``). Its id is derived from the members, so every
  submission to the same phones shares one pool (and one Celery queue).
- ``jobs.pool_id``: the pool a job waits in; ``jobs.device_id`` becomes nullable, set when a phone
  of the pool claims the job.
- ``jobs.estimate_s``: the job's expected duration, its place in the pool's longest-first order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pools",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("selector", sa.Text(), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pools")),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("pool_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("estimate_s", sa.Float(), nullable=True))
        batch.alter_column("device_id", existing_type=sa.Integer(), nullable=True)
        batch.create_index(batch.f("ix_jobs_pool_id"), ["pool_id"], unique=False)
        batch.create_foreign_key(batch.f("fk_jobs_pool_id_pools"), "pools", ["pool_id"], ["id"])


def downgrade() -> None:
    # A pool job no phone claimed has no device to keep: it goes with its pool.
    op.execute("DELETE FROM sessions WHERE job_id IN (SELECT id FROM jobs WHERE device_id IS NULL)")
    op.execute("DELETE FROM jobs WHERE device_id IS NULL")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(batch.f("fk_jobs_pool_id_pools"), type_="foreignkey")
        batch.drop_index(batch.f("ix_jobs_pool_id"))
        batch.alter_column("device_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("estimate_s")
        batch.drop_column("pool_id")
    op.drop_table("pools")
