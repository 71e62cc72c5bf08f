"""The submitting side of the distributed executor: a run's work becomes Celery tasks, sent by name
to the queues of its devices and pools; revoking; handing the nightly to a control consumer.

``enqueue_run`` sends ``farm.run_device_jobs`` to ``device.<serial>`` for every device with
unfinished jobs, and one ``farm.run_pool_job`` per pool job to ``pool.<id>``, longest expected
duration first (the queue is FIFO, so the order sent is the order taken, as from the embedded
executor's ``PoolQueue``), after telling each member phone's consumer to consume that queue. It
records each task id on its jobs (``farm cancel`` revokes them). Tasks are sent by name: this side
never imports the task code. Broker failures become ``BrokerError`` here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date

from kombu import Connection
from kombu.exceptions import KombuError, OperationalError
from redis.exceptions import RedisError
from sqlalchemy import select

from farm.distributed.celery_app import (
    BROKER_TIMEOUT_S,
    CONTROL_QUEUE,
    celery_app,
    device_node,
    device_queue,
    pool_queue,
    transport_options,
)
from orchestrator import repository
from orchestrator.config import Settings
from orchestrator.errors import BrokerError, PreflightError
from orchestrator.planning import nightly_run_id, shuffle_seed
from orchestrator.scheduling import longest_first
from orchestrator.schema import Device
from orchestrator.secrets import mask_url
from orchestrator.storage import session_scope

__all__ = ["enqueue_device_jobs", "enqueue_pool_job", "enqueue_run", "ping", "revoke", "send_nightly"]


@contextmanager
def _broker(settings: Settings, action: str) -> Iterator[None]:
    try:
        yield
    except (OperationalError, KombuError, RedisError, OSError) as exc:
        raise BrokerError(f"cannot {action}: the broker {mask_url(settings.broker_url)} "
                          f"did not answer within {BROKER_TIMEOUT_S:g} s ({exc})",
                          hint="check FARM_BROKER_URL and that Redis is up and answers there "
                               "(`redis-cli -u URL ping` says PONG)") from exc


def ping(settings: Settings) -> None:
    """The broker answers within its timeout (``BROKER_TIMEOUT_S``, to connect and to answer), or
    a ``PreflightError`` (before planning: a run no worker can be sent must not be written)."""
    try:
        with _broker(settings, "reach the broker"), \
                Connection(settings.broker_url, connect_timeout=BROKER_TIMEOUT_S,
                           transport_options=transport_options(settings)) as connection:
            connection.ensure_connection(max_retries=0)  # no retries: one answer or none
    except BrokerError as exc:
        raise PreflightError(exc.message, hint=exc.hint) from exc


def enqueue_run(settings: Settings, run_id: str) -> dict[str, str]:
    """Send each device's unfinished jobs of the run to its queue, and each pool job to its pool's;
    device serial (or pool job id) -> task id."""
    with session_scope(settings) as db:
        work = repository.unfinished_jobs(db, run_id)
        pools = repository.unfinished_pool_jobs(db, run_id)
    sent = {serial: enqueue_device_jobs(settings, run_id, serial, [job.job_id for job in jobs])
            for serial, jobs in work.items()}
    for pool in pools:
        _subscribe(settings, pool.pool_id, pool.members)
        for job in longest_first(pool.jobs, lambda job: job.estimate_s):
            sent[job.job_id] = enqueue_pool_job(settings, run_id, job.job_id, pool.pool_id)
    return sent


def enqueue_device_jobs(settings: Settings, run_id: str, serial: str, job_ids: list[str]) -> str:
    """Send one device's jobs of a run to its queue (also: jobs the supervisor takes back from a
    task that died); the task id."""
    task_id = str(uuid.uuid4())
    with _broker(settings, f"queue the jobs of {serial}"):
        celery_app(settings).send_task(
            "farm.run_device_jobs", args=[run_id, serial, job_ids, shuffle_seed(run_id, serial)],
            queue=device_queue(serial), task_id=task_id)
    with session_scope(settings) as db:
        repository.record_task(db, job_ids, task_id)
    return task_id


def _subscribe(settings: Settings, pool_id: str, members: Sequence[str]) -> None:
    """Every member phone's consumer consumes the pool's queue from now on (a consumer started
    later finds the pool itself: ``consumer.waiting_pools``)."""
    with session_scope(settings) as db:
        nodes = [device_node(d.serial, d.host) for d in
                 db.scalars(select(Device).where(Device.serial.in_(list(members))))
                 if d.host]
    if nodes:
        with _broker(settings, f"subscribe the phones of pool {pool_id}"):
            celery_app(settings).control.add_consumer(pool_queue(pool_id), destination=nodes,
                                                      reply=False)


def enqueue_pool_job(settings: Settings, run_id: str, job_id: str, pool_id: str) -> str:
    """Send one pool job to its pool's queue (also: a job handed back by a hot or lost phone);
    the task id."""
    task_id = str(uuid.uuid4())
    with _broker(settings, f"queue job {job_id[:12]} in pool {pool_id}"):
        celery_app(settings).send_task("farm.run_pool_job", args=[run_id, job_id, pool_id],
                                       queue=pool_queue(pool_id), task_id=task_id)
    with session_scope(settings) as db:
        repository.record_task(db, [job_id], task_id)
    return task_id


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
