"""The control queue's task: ``farm.nightly(schedule, night)`` runs a night's nightly once
(``farm.nightly.scheduled_nightly``: submit, wait, screen, confirm, alert).

Apart from the device tasks (``tasks``) because the nightly's detector needs scipy, and only the
control consumer runs it: a phone's consumer does not pay for importing it (about a second of CPU
at every start).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from celery import Task, shared_task

from farm.distributed.celery_app import MAX_RETRIES
from farm.nightly import scheduled_nightly
from orchestrator.config import load_settings
from orchestrator.errors import BrokerError, StorageError

__all__ = ["nightly"]


@shared_task(
    name="farm.nightly",
    bind=True,
    acks_late=True,
    autoretry_for=(StorageError, BrokerError),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def nightly(self: Task, schedule: str = "nightly", night: str | None = None) -> str:
    """Submit the night's run of ``schedule`` (today in UTC unless ``night`` is an ISO date) once;
    the submitter then waits for it and screens / confirms regressions."""
    day = date.fromisoformat(night) if night else datetime.now(UTC).date()
    return scheduled_nightly(load_settings(), schedule, day)
