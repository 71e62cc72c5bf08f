"""The submitting side of the distributed executor: a run's work becomes one Celery task per
device, sent by name to the device's queue; revoking; handing the nightly to a control consumer.

``enqueue_run`` sends ``farm.run_device_jobs`` to ``device.<serial>`` for every device with
unfinished jobs and records each task id on its jobs (``farm cancel`` revokes them). Tasks are sent
by name: this side never imports the task code. Broker failures become ``BrokerError`` here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date

from kombu import Connection
from kombu.exceptions import KombuError, OperationalError
from redis.exceptions import RedisError

from farm.distributed.celery_app import CONTROL_QUEUE, celery_app, device_queue
from orchestrator import repository
from orchestrator.config import Settings
from orchestrator.errors import BrokerError, PreflightError
from orchestrator.planning import nightly_run_id, shuffle_seed
from orchestrator.storage import engine_safe_url, session_scope

__all__ = ["enqueue_run", "ping", "revoke", "send_nightly"]


@contextmanager
def _broker(settings: Settings, action: str) -> Iterator[None]:
    try:
        yield
    except (OperationalError, KombuError, RedisError, OSError) as exc:
        raise BrokerError(f"cannot {action}: the broker {engine_safe_url(settings.broker_url)} "
                          f"did not answer ({exc})",
                          hint="check FARM_BROKER_URL and that Redis is up") from exc


def ping(settings: Settings, timeout_s: float = 3.0) -> None:
    """The broker answers within ``timeout_s``, or a ``PreflightError`` (before planning: a
    run no worker can be sent must not be written)."""
    try:
        with _broker(settings, "reach the broker"), \
                Connection(settings.broker_url, connect_timeout=timeout_s) as connection:
            connection.ensure_connection(max_retries=0)  # no retries: one answer or none
    except BrokerError as exc:
        raise PreflightError(exc.message, hint=exc.hint) from exc


def enqueue_run(settings: Settings, run_id: str) -> dict[str, str]:
    """Send each device's unfinished jobs of the run to its queue; device serial -> task id."""
    app = celery_app(settings)
    with session_scope(settings) as db:
        work = repository.unfinished_jobs(db, run_id)
    sent: dict[str, str] = {}
    for serial, jobs in work.items():
        job_ids = [job.job_id for job in jobs]
        task_id = str(uuid.uuid4())
        with _broker(settings, f"queue the jobs of {serial}"):
            app.send_task("farm.run_device_jobs",
                          args=[run_id, serial, job_ids, shuffle_seed(run_id, serial)],
                          queue=device_queue(serial), task_id=task_id)
        sent[serial] = task_id
        with session_scope(settings) as db:
            repository.record_task(db, job_ids, task_id)
    return sent


def send_nightly(settings: Settings, schedule: str, night: date) -> str:
    """Hand the night's nightly to a control consumer (submit, wait, screen, alert); the run id."""
    with _broker(settings, "queue the nightly"):
        celery_app(settings).send_task("farm.nightly", args=[schedule, night.isoformat()],
                                       queue=CONTROL_QUEUE)
    return nightly_run_id(schedule, night)


def revoke(settings: Settings, task_ids: Sequence[str]) -> None:
    """Ask every worker to drop these tasks if they have not started (best effort: the jobs are
    already cancelled in the database, which is what a late delivery checks)."""
    if task_ids:
        with _broker(settings, "revoke the run's tasks"):
            celery_app(settings).control.revoke(list(task_ids))
