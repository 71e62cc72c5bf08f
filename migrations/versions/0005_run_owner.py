"""run owner: the process that executes an embedded run, so a run whose process is gone is seen

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:30:00

- ``runs.owner``: ``{"host", "pid", "started"}`` of the `farm` process executing the run in
  embedded mode (``farm.stale``); NULL for distributed runs (their workers hold device leases) and
  for runs from before this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("owner", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("owner")
