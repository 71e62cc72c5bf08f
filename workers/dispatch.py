"""The distributed executor: a run's work becomes one Celery task per device, on its queue.

``enqueue_run`` sends ``farm.run_device_jobs`` to ``device.<serial>`` for every device with
unfinished jobs and records each task id in its jobs' config (``farm cancel`` revokes them).
``submit_nightly`` creates a night's run under its deterministic id, insert-if-absent, and enqueues
it; a second scheduler, a restarted beat or a redelivered nightly task finds the run and sends
nothing twice. Broker failures become ``BrokerError`` here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, timedelta

from kombu.exceptions import KombuError, OperationalError
from redis.exceptions import RedisError
from sqlalchemy import select

from orchestrator.config import Settings
from orchestrator.distributed import (
    FINAL_RUN_STATES,
    heartbeat_max_age,
    nightly_run_id,
    resolve_live,
)
from orchestrator.errors import BrokerError, StorageError
from orchestrator.executor import pending_work, shuffle_seed
from orchestrator.nightly import nightly_submission
from orchestrator.planning import create_run, parse_names
from orchestrator.schema import Job, Run, utcnow
from orchestrator.storage import engine_safe_url, session_scope
from workers.celery_app import celery_app, device_queue

__all__ = ["enqueue_run", "revoke", "run_distributed", "submit_nightly", "wait_until_final"]

_ABANDONED_AFTER_S = 120


@contextmanager
def _broker(settings: Settings, action: str) -> Iterator[None]:
    try:
        yield
    except (OperationalError, KombuError, RedisError, OSError) as exc:
        raise BrokerError(f"cannot {action}: the broker {engine_safe_url(settings.broker_url)} "
                          f"did not answer ({exc})",
                          hint="check FARM_BROKER_URL and that Redis is up") from exc


def enqueue_run(settings: Settings, run_id: str) -> dict[str, str]:
    """Send each device's unfinished jobs of the run to its queue; device serial -> task id."""
    app = celery_app(settings)
    sent: dict[str, str] = {}
    for serial, jobs in pending_work(settings, run_id).items():
        job_ids = [job_id for job_id, _, _ in jobs]
        task_id = str(uuid.uuid4())
        with _broker(settings, f"queue the jobs of {serial}"):
            app.send_task("farm.run_device_jobs",
                          args=[run_id, serial, job_ids, shuffle_seed(run_id, serial)],
                          queue=device_queue(serial), task_id=task_id)
        sent[serial] = task_id
        with session_scope(settings) as db:
            for job in db.scalars(select(Job).where(Job.id.in_(job_ids))):
                job.task_id = task_id
    return sent


def wait_until_final(settings: Settings, run_id: str, poll_s: float = 2.0) -> str:
    """Block until the workers have settled the run; its final status."""
    while True:
        with session_scope(settings) as db:
            run = db.get(Run, run_id)
            if run is None:
                raise RuntimeError(f"run {run_id} does not exist")
            if run.status in FINAL_RUN_STATES:
                return run.status
        time.sleep(poll_s)


def send_nightly(settings: Settings, schedule: str, night: date) -> str:
    """Hand the night's nightly to a control consumer (submit, wait, screen, alert); the run id."""
    from workers.celery_app import CONTROL_QUEUE

    with _broker(settings, "queue the nightly"):
        celery_app(settings).send_task("farm.nightly", args=[schedule, night.isoformat()],
                                       queue=CONTROL_QUEUE)
    return nightly_run_id(schedule, night)


def run_distributed(settings: Settings, run_id: str) -> None:
    """An executor in the sense of ``orchestrator.nightly``: a stored run through the workers, to
    its end (the nightly's confirmation re-runs use it)."""
    enqueue_run(settings, run_id)
    wait_until_final(settings, run_id)


def revoke(settings: Settings, task_ids: Sequence[str]) -> None:
    """Ask every worker to drop these tasks if they have not started (best effort: the jobs are
    already cancelled in the database, which is what a late delivery checks)."""
    if task_ids:
        with _broker(settings, "revoke the run's tasks"):
            celery_app(settings).control.revoke(list(task_ids))


def _create_nightly(settings: Settings, run_id: str) -> bool:
    """Insert the night's run unless it exists; True if this call created it."""
    from orchestrator.inventory import ensure_builtin_models

    with session_scope(settings) as db:
        if db.get(Run, run_id) is not None:
            return False
        ensure_builtin_models(db, settings)
        names = parse_names(str(settings.nightly_devices), "nightly devices")
        devices = resolve_live(db, names, heartbeat_max_age(settings))
    try:
        with session_scope(settings) as db:
            create_run(db, replace(nightly_submission(settings), devices=devices), run_id=run_id)
    except StorageError:
        # A concurrent scheduler inserted it first (primary key): that one enqueues it.
        with session_scope(settings) as db:
            if db.get(Run, run_id) is not None:
                return False
        raise
    return True


def _abandoned(settings: Settings, run_id: str) -> bool:
    """Queued for a while with no task sent: its submitter died between the insert and the send.
    (A younger run may just be between the two steps of a live submitter.)"""
    with session_scope(settings) as db:
        run = db.get(Run, run_id)
        if run is None or run.status != "queued":
            return False
        created = run.created_at.replace(tzinfo=run.created_at.tzinfo or UTC)
        return created < utcnow() - timedelta(seconds=_ABANDONED_AFTER_S) and not any(
            job.task_id for job in run.jobs)


def submit_nightly(settings: Settings, schedule: str, night: date) -> tuple[str, bool]:
    """Create and enqueue the night's run once; (run id, whether this call submitted it)."""
    run_id = nightly_run_id(schedule, night)
    created = _create_nightly(settings, run_id)
    if created or _abandoned(settings, run_id):
        enqueue_run(settings, run_id)
        return run_id, True
    return run_id, False
