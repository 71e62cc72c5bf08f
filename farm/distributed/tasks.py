"""The farm's Celery tasks: thin, named, ID-only wrappers around one service function each.

``farm.run_device_jobs(run_id, serial, job_ids, shuffle_seed)`` runs one device's part of a run
through ``workers.service.execute_jobs`` (the same call the embedded executor makes) under the
device's lease (the nightly's task is in ``control_tasks``). Arguments are ids and plain values
only (JSON); every row is re-read from the database.

Retries are for named transient errors only, with exponential backoff and jitter, and bounded:

- the phone is not online when the task starts (``DeviceUnavailable``): retried; the last attempt
  runs anyway, so its jobs end ``device_unavailable`` / ``device_lost`` instead of hanging;
- another delivery of this work holds the phone's lease: retried after about one lease TTL, unless
  the jobs are already final (then there is nothing left to do);
- the database or the broker is unreachable (``StorageError``, ``BrokerError``).

A phone lost in the middle of a batch is waited for by the service itself (reconnect with backoff,
``device_retries``), which then fails the remaining jobs as ``device_lost``: a retry of the task
would find them final.

A lease lost in the middle of a batch (the broker was away for longer than about 0.8 x the lease
TTL, so it could not be renewed in time; or it expired and another execution took it) stops the
batch before its next write, with the jobs left as they were. The task does not end there: it
waits for the broker to answer and tries to take the lease again, under a new token. If it gets
it, nobody else can be running the phone, and the batch carries on at its missing sessions; if
another execution holds it, the work is that one's. (Ending the task at the loss would leave the
jobs ``running`` and its message unacked until the visibility timeout.) A task that died all the
same (killed, or stopped while it waited) has its phone's ``running`` jobs sent again by its
worker's supervisor (``supervisor.Supervisor.retake``).

``farm.run_pool_job(run_id, job_id, pool_id)`` runs one pool job on the phone whose consumer took
it from the pool's queue: under that phone's lease, it claims the job (``repository.claim_job``)
and executes it. A phone above the thermal gate's limit leaves the pool's work to cooler phones:
before a job it hands the job back to the queue, and before or after one it stops consuming the
pool's queue until a watcher thread reads it cool again (or it has waited as long as the gate
would), then consumes it again (``control.add_consumer`` to itself). A job whose phone was lost
goes back to the pool (``repository.return_to_pool``) and is sent again. A redelivered message of
a job another phone claimed is a duplicate while that phone's lease is held; once it is not (its
worker died), the job is taken over (``repository.abandon_job``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid

import redis
from celery import Task, shared_task
from sqlalchemy import select

from farm.distributed import dispatch, node
from farm.distributed.celery_app import MAX_RETRIES, celery_app, pool_queue
from farm.distributed.lease import DeviceLease, lease_client, lease_key
from orchestrator import repository
from orchestrator.config import Settings, load_settings
from orchestrator.errors import BrokerError, DeviceUnavailable, FarmError, LeaseLost, StorageError
from orchestrator.repository import (
    FINAL_JOB_STATES,
    DeviceRef,
    JobOutcome,
    mark_running,
    settle_run,
)
from orchestrator.scheduling import HandOff
from orchestrator.schema import Device, Job, Run
from orchestrator.storage import session_scope
from workers.device.adb import adb_client, find_transport
from workers.device.gate import GatePolicy
from workers.runners import runner_for
from workers.service import execute_jobs

__all__ = ["run_device_jobs", "run_pool_job"]

log = logging.getLogger(__name__)

_TRANSIENT = (DeviceUnavailable, StorageError, BrokerError)
#: a duplicate waits for the holder's batch, which can take long: many slow retries
_LEASE_RETRIES = 100
#: the longest pause between two tries at the broker after a lost lease: the batch carries on
#: within this of the broker's return
_BROKER_POLL_MAX_S = 2.0


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


def _token(task: Task) -> str:
    # Unique per execution, not per message: a redelivered copy of this task (same task id) must
    # never pass as the holder of a lease its twin took.
    return f"{task.request.id}:{uuid.uuid4().hex[:8]}"


def _lease(task: Task, settings: Settings, serial: str) -> DeviceLease:
    """This execution's try at the phone's lease (``acquired`` says whether it got it)."""
    try:
        lease = DeviceLease(lease_client(settings.broker_url), serial, _token(task), settings.lease_ttl)
        lease.acquire()
    except redis.RedisError as exc:
        raise BrokerError(f"cannot take the lease on {serial}: {exc}",
                          hint="check the broker (FARM_BROKER_URL)") from exc
    return lease


def _take_again(task: Task, settings: Settings, lease: DeviceLease, run_id: str) -> bool:
    """After a lost lease: wait for the broker (as long as it takes, unless the run is cancelled)
    and take the lease again; False when another execution holds it, or the run was cancelled."""
    delay = 0.25
    while not _cancelled(settings, run_id):
        try:
            if lease.take_again(_token(task)):
                return True
            log.warning("device %s: another execution holds the lease now; leaving the jobs to "
                        "it", lease.serial)
            return False
        except redis.RedisError as exc:
            log.warning("device %s: the broker does not answer (%s); trying again in %.1f s",
                        lease.serial, exc, delay)
        time.sleep(delay)
        delay = min(2 * delay, _BROKER_POLL_MAX_S)
    return False


def _execute(task: Task, settings: Settings, lease: DeviceLease, run_id: str, job_ids: list[str],
             shuffle_seed: int | None = None) -> list[JobOutcome] | None:
    """``execute_jobs`` under the entered ``lease``, carried on after the lease is lost and taken
    again (see the module docstring); None when the work is another execution's."""
    while True:
        try:
            return execute_jobs(
                settings, job_ids, shuffle_seed=shuffle_seed,
                should_stop=lambda: lease.lost or _cancelled(settings, run_id),
                before_write=lease.check)
        except LeaseLost as exc:
            log.warning("device %s: %s; taking it again once the broker answers", lease.serial,
                        exc.message)
        if not _take_again(task, settings, lease, run_id):
            return None
        log.info("device %s: lease taken again; carrying on with the batch", lease.serial)


@shared_task(name="farm.run_device_jobs", bind=True, acks_late=True, autoretry_for=_TRANSIENT,
             retry_backoff=2, retry_backoff_max=300, retry_jitter=True, max_retries=MAX_RETRIES)
def run_device_jobs(self: Task, run_id: str, serial: str, job_ids: list[str],
                    shuffle_seed: int | None) -> dict[str, str]:
    """Run (or resume) one device's jobs of a run; returns job id -> status (for logs only)."""
    settings = load_settings()
    if _all_final(settings, job_ids):
        return {}
    if serial != "local" and self.request.retries < MAX_RETRIES:
        _ensure_online(serial)
    lease = _lease(self, settings, serial)
    if not lease.acquired:
        if _all_final(settings, job_ids):
            return {}
        log.info("device %s is leased by %s; retrying later", serial, lease.holder())
        ttl = float(settings.lease_ttl)
        raise self.retry(countdown=ttl * (1 + random.random()), max_retries=_LEASE_RETRIES)
    with lease:
        with session_scope(settings) as db:
            mark_running(db, run_id)
        outcomes = _execute(self, settings, lease, run_id, job_ids, shuffle_seed)
        if outcomes is None:
            return {}
        with session_scope(settings) as db:
            settle_run(db, run_id)
    return {outcome.job_id: outcome.status for outcome in outcomes}


class _Cooling:
    """This consumer's phone while it is too hot for pool work: the pools it stopped consuming,
    and the watcher that resumes them."""

    def __init__(self) -> None:
        self.handoff: HandOff | None = None
        self.paused: set[str] = set()  # queues
        self.lock = threading.Lock()
        self.watcher: threading.Thread | None = None


_cooling = _Cooling()


def _too_hot(serial: str, policy: GatePolicy) -> str | None:
    with session_scope(load_settings()) as db:
        device = db.scalars(select(Device).where(Device.serial == serial)).one_or_none()
        ref = DeviceRef.of(device) if device is not None else None
    if ref is None:
        return None
    try:
        return runner_for(ref).too_hot(policy)
    except FarmError:
        return None  # gone: the session will say so


def _leave_pools_while_hot(me: node.Node, queue: str, policy: GatePolicy, poll_s: float) -> None:
    """Stop consuming ``queue`` now; a watcher consumes it again once the phone is cool."""
    me.cancel_queue(queue)
    with _cooling.lock:
        _cooling.paused.add(queue)
        if _cooling.watcher is not None and _cooling.watcher.is_alive():
            return
        settings = load_settings()

        def watch() -> None:
            while True:
                time.sleep(poll_s)
                hot = _too_hot(me.serial or "", policy)
                with _cooling.lock:
                    assert _cooling.handoff is not None
                    if not _cooling.handoff.leaves_work(hot, time.monotonic()):
                        queues, _cooling.paused = sorted(_cooling.paused), set()
                        break
            log.info("phone %s is cool again (%s); taking pool work again", me.serial, hot or "ok")
            app = celery_app(settings)
            for name in queues:
                app.control.add_consumer(name, destination=[me.name], reply=False)

        _cooling.watcher = threading.Thread(target=watch, name="cooling", daemon=True)
        _cooling.watcher.start()


def _hot(serial: str, spec_policy: GatePolicy) -> bool:
    """Whether the phone leaves pool work now (``HandOff``: hot, for less than the gate's wait)."""
    hot = _too_hot(serial, spec_policy)
    with _cooling.lock:
        _cooling.handoff = _cooling.handoff or HandOff(spec_policy.max_wait_s)
        return _cooling.handoff.leaves_work(hot, time.monotonic())


def _job_to_run(settings: Settings, job_id: str, serial: str) -> str | None:
    """The job this delivery should run: ``job_id``; None when another phone claimed it and is at
    it (the job is running and that phone's lease is held: this is a duplicate). A job another
    phone claimed but is not running (its worker died, or let it go) is taken over
    (``repository.abandon_job``), which may leave a successor to run in its place."""
    with session_scope(settings) as db:
        job = db.get(Job, job_id)
        holder = job.device.serial if job is not None and job.device is not None else None
        running = job is not None and job.status == "running"
    if holder is None or holder == serial:
        return job_id
    if running and lease_client(settings.broker_url).exists(lease_key(holder)):
        return None
    log.warning("job %s was claimed by %s, which is not running it: taking it over",
                job_id[:12], holder)
    with session_scope(settings) as db:
        return repository.abandon_job(db, job_id, f"{holder} stopped running it")


@shared_task(name="farm.run_pool_job", bind=True, acks_late=True, autoretry_for=_TRANSIENT,
             retry_backoff=2, retry_backoff_max=300, retry_jitter=True, max_retries=MAX_RETRIES)
def run_pool_job(self: Task, run_id: str, job_id: str, pool_id: str) -> dict[str, str]:
    """Run one pool job on this consumer's phone; returns job id -> status (for logs only)."""
    settings = load_settings()
    me = node.current()
    if me is None or me.serial is None:
        raise RuntimeError("a pool job reached a consumer that serves no phone")
    serial = me.serial
    if _cancelled(settings, run_id) or _all_final(settings, [job_id]):
        return {}
    with session_scope(settings) as db:
        job = db.get(Job, job_id)
        spec = job.spec if job is not None else None
    if spec is None:
        return {}
    policy = GatePolicy(max_temp_c=spec.max_temp_c, max_wait_s=spec.gate_max_wait_s)
    poll_s = min(spec.gate_poll_s, 5.0) or 1.0
    queue = pool_queue(pool_id)
    taken = _job_to_run(settings, job_id, serial)
    if taken is None:
        return {}  # a duplicate: the phone that claimed it is still at it
    job_id = taken
    if find_transport(adb_client(), serial) is None:
        log.warning("phone %s is not online; handing job %s back to pool %s", serial,
                    job_id[:12], pool_id)
        dispatch.enqueue_pool_job(settings, run_id, job_id, pool_id)
        me.cancel_queue(queue)  # the supervisor stops this consumer once it sees the phone gone
        return {}
    if _hot(serial, policy):
        log.info("phone %s is hot; handing job %s back to pool %s", serial, job_id[:12], pool_id)
        dispatch.enqueue_pool_job(settings, run_id, job_id, pool_id)
        _leave_pools_while_hot(me, queue, policy, poll_s)
        return {}
    lease = _lease(self, settings, serial)
    if not lease.acquired:
        raise self.retry(countdown=float(settings.lease_ttl) * (1 + random.random()),
                         max_retries=_LEASE_RETRIES)
    with lease:
        with session_scope(settings) as db:
            claimed = repository.claim_job(db, job_id, serial)
            job = db.get(Job, job_id)
            mine = claimed or (job is not None and job.device is not None
                               and job.device.serial == serial)
            if mine:
                mark_running(db, run_id)
        if not mine:
            return {}
        outcomes = _execute(self, settings, lease, run_id, [job_id])
        if outcomes is None:
            # Another execution has the phone; a new message finds the job (this phone's
            # consumer resumes it, or another phone of the pool takes it over).
            if not _cancelled(settings, run_id):
                log.warning("device %s: sending job %s to the pool again", serial, job_id[:12])
                dispatch.enqueue_pool_job(settings, run_id, job_id, pool_id)
            return {}
        with session_scope(settings) as db:
            again = repository.return_to_pool(db, job_id)
        if again is not None:
            dispatch.enqueue_pool_job(settings, run_id, again, pool_id)
        with session_scope(settings) as db:
            settle_run(db, run_id)
    if again is None and _hot(serial, policy):
        _leave_pools_while_hot(me, queue, policy, poll_s)
    return {outcome.job_id: outcome.status for outcome in outcomes}
