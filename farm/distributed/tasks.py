"""The farm's Celery tasks: thin, named, ID-only wrappers around one service function each.

``farm.run_device_jobs(run_id, serial, job_ids, shuffle_seed)`` runs one device's part of a run
through ``workers.service.execute_jobs`` (the same call the embedded executor makes) under the
device's lease; ``farm.nightly(schedule, night)`` runs a night's nightly once
(``farm.nightly.scheduled_nightly``). Arguments are ids and plain values only (JSON); every row is
re-read from the database.

Retries are for named transient errors only, with exponential backoff and jitter, and bounded:

- the phone is not online when the task starts (``DeviceUnavailable``): retried; the last attempt
  runs anyway, so its jobs end ``device_unavailable`` / ``device_lost`` instead of hanging;
- another delivery of this work holds the phone's lease: retried after about one lease TTL, unless
  the jobs are already final (then there is nothing left to do);
- the database or the broker is unreachable (``StorageError``, ``BrokerError``).

A phone lost in the middle of a batch is waited for by the service itself (reconnect with backoff,
``device_retries``), which then fails the remaining jobs as ``device_lost``: a retry of the task
would find them final.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import UTC, date, datetime

import redis
from celery import Task, shared_task
from sqlalchemy import select

from farm.distributed.lease import DeviceLease
from farm.nightly import scheduled_nightly
from orchestrator.config import Settings, load_settings
from orchestrator.errors import BrokerError, DeviceUnavailable, LeaseLost, StorageError
from orchestrator.repository import FINAL_JOB_STATES, mark_running, settle_run
from orchestrator.schema import Job, Run
from orchestrator.storage import session_scope
from workers.device.adb import adb_client, find_transport
from workers.service import execute_jobs

__all__ = ["nightly", "run_device_jobs"]

log = logging.getLogger(__name__)

_TRANSIENT = (DeviceUnavailable, StorageError, BrokerError)
_MAX_RETRIES = 5
#: a duplicate waits for the holder's batch, which can take long: many slow retries
_LEASE_RETRIES = 100


def _all_final(settings: Settings, job_ids: list[str]) -> bool:
    with session_scope(settings) as db:
        statuses = db.scalars(select(Job.status).where(Job.id.in_(job_ids))).all()
    return all(status in FINAL_JOB_STATES for status in statuses)


def _cancelled(settings: Settings, run_id: str) -> bool:
    with session_scope(settings) as db:
        run = db.get(Run, run_id)
        return run is None or run.status == "cancelled"


def _ensure_online(serial: str) -> None:
    if find_transport(adb_client(), serial) is None:
        raise DeviceUnavailable(f"{serial} is not online at this worker's adb server",
                                hint="reconnect the phone; the task is retried")


def _lease_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.broker_url, socket_timeout=10, socket_connect_timeout=10)


@shared_task(name="farm.run_device_jobs", bind=True, acks_late=True, autoretry_for=_TRANSIENT,
             retry_backoff=2, retry_backoff_max=300, retry_jitter=True, max_retries=_MAX_RETRIES)
def run_device_jobs(self: Task, run_id: str, serial: str, job_ids: list[str],
                    shuffle_seed: int | None) -> dict[str, str]:
    """Run (or resume) one device's jobs of a run; returns job id -> status (for logs only)."""
    settings = load_settings()
    if _all_final(settings, job_ids):
        return {}
    if serial != "local" and self.request.retries < _MAX_RETRIES:
        _ensure_online(serial)
    # The token is unique per execution, not per message: a redelivered copy of this task (same
    # task id) must never pass as the holder of a lease its twin took.
    token = f"{self.request.id}:{uuid.uuid4().hex[:8]}"
    try:
        lease = DeviceLease(_lease_client(settings), serial, token, settings.lease_ttl)
        acquired = lease.acquire()
    except redis.RedisError as exc:
        raise BrokerError(f"cannot take the lease on {serial}: {exc}",
                          hint="check the broker (FARM_BROKER_URL)") from exc
    if not acquired:
        if _all_final(settings, job_ids):
            return {}
        log.info("device %s is leased by %s; retrying later", serial, lease.holder())
        ttl = float(settings.lease_ttl)
        raise self.retry(countdown=ttl * (1 + random.random()), max_retries=_LEASE_RETRIES)
    with lease:
        with session_scope(settings) as db:
            mark_running(db, run_id)
        try:
            outcomes = execute_jobs(
                settings, job_ids, shuffle_seed=shuffle_seed,
                should_stop=lambda: lease.lost or _cancelled(settings, run_id),
                before_write=lease.check)
        except LeaseLost as exc:
            log.warning("device %s: %s; leaving the rest to the lease's new holder", serial, exc)
            return {}
        with session_scope(settings) as db:
            settle_run(db, run_id)
    return {outcome.job_id: outcome.status for outcome in outcomes}


@shared_task(name="farm.nightly", bind=True, acks_late=True, autoretry_for=(StorageError, BrokerError),
             retry_backoff=2, retry_backoff_max=300, retry_jitter=True, max_retries=_MAX_RETRIES)
def nightly(self: Task, schedule: str = "nightly", night: str | None = None) -> str:
    """Submit the night's run of ``schedule`` (today in UTC unless ``night`` is an ISO date) once;
    the submitter then waits for it and screens / confirms regressions."""
    day = date.fromisoformat(night) if night else datetime.now(UTC).date()
    return scheduled_nightly(load_settings(), schedule, day)
