"""Executors: how a stored run gets executed. One is chosen from the settings, once
(``executor_for``): no broker configured means embedded, else distributed.

- ``EmbeddedExecutor``: in this process, one thread per device (so a device never runs two sessions
  at once), each thread one ``workers.service.execute_jobs`` call over that device's jobs, their
  sessions in an order shuffled per run and device (the seed is recorded with each session); then
  its share of any pool it is in: the next job of the pool's longest-first ``PoolQueue``, one at a
  time, claimed in the database first (``repository.claim_job``).
  ``stop`` (Ctrl-C) lets each device finish its current session, then leaves unfinished jobs pending
  and the run cancelled.
- ``DistributedExecutor``: one ``farm.run_device_jobs`` Celery task per device, sent by name to the
  device's queue (``farm.distributed.dispatch``); the workers call the same ``execute_jobs``. The
  run is followed from the database.

Both report progress the same way, as ``DeviceProgress`` (sessions stored out of planned, per
device), and both know which devices they can reach (``devices``): the phones the local adb server
sees, or the phones of live workers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from farm.inventory import discover_phones, ensure_local_device
from farm.stale import this_process
from orchestrator import repository
from orchestrator.config import Settings
from orchestrator.errors import FarmError
from orchestrator.jobspec import JobSpec
from orchestrator.planning import heartbeat_max_age, resolve_devices, resolve_live, shuffle_seed
from orchestrator.progress import DeviceProgress, RunProgress, follow_run
from orchestrator.repository import DeviceRef, JobOutcome, PendingJob
from orchestrator.scheduling import HandOff, PoolQueue
from orchestrator.schema import Device, Run
from orchestrator.storage import session_scope
from workers.device.gate import GatePolicy
from workers.runners import Runner, runner_for
from workers.service import RunnerFactory, execute_jobs

__all__ = ["DistributedExecutor", "EmbeddedExecutor", "Executor", "Progress", "executor_for"]

#: called with a device's progress whenever it changes
Progress = Callable[[DeviceProgress], None]


def _quiet(_progress: DeviceProgress) -> None:
    pass


class Executor(Protocol):
    #: what ``--devices`` means when not given
    default_devices: tuple[str, ...]

    def check(self) -> None:
        """Raise ``PreflightError`` if what this executor needs does not answer (distributed:
        the broker, within a few seconds)."""
        ...

    def devices(self, db: DbSession, names: Sequence[str]) -> tuple[list[Device], list[str]]:
        """The named devices this executor can run on (``all``, ``local``, serials), and notes on
        devices it saw but cannot use."""
        ...

    def start(self, run_id: str, progress: Progress = _quiet,
              stop: threading.Event | None = None) -> None:
        """Set the run going (embedded: run it to its end, or until ``stop``)."""
        ...

    def wait(self, run_id: str, progress: Progress = _quiet) -> str:
        """Until the run is final; its status."""
        ...

    def run(self, run_id: str) -> str:
        """Start and wait, quietly; the final status."""
        ...

    def revoke(self, task_ids: Sequence[str]) -> None:
        """Drop queued work of a cancelled run."""
        ...


class EmbeddedExecutor:
    default_devices: tuple[str, ...] = ("local",)

    def __init__(self, settings: Settings, runners: RunnerFactory = runner_for) -> None:
        self.settings = settings
        self.runners = runners

    def check(self) -> None:
        """Nothing to reach: the run executes in this process."""

    def devices(self, db: DbSession, names: Sequence[str]) -> tuple[list[Device], list[str]]:
        ensure_local_device(db)
        notes = discover_phones(db).problems if set(names) - {"local"} else []
        return resolve_devices(db, names), notes

    def start(self, run_id: str, progress: Progress = _quiet,
              stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        with session_scope(self.settings) as db:
            work = repository.unfinished_jobs(db, run_id)
            pools = repository.unfinished_pool_jobs(db, run_id)
            repository.mark_running(db, run_id, owner=this_process())
        queues = {pool.pool_id: PoolQueue(pool.jobs, lambda job: job.estimate_s) for pool in pools}
        serials = list(work) + sorted({s for pool in pools for s in pool.members} - set(work))
        lock = threading.Lock()

        def device_loop(serial: str) -> None:
            planned = {item.job_id: item.planned for item in work.get(serial, [])}
            labels = {item.job_id: item.label for item in work.get(serial, [])}
            done = dict.fromkeys(planned, 0)
            final: set[str] = set()

            def report(job_id: str | None = None, sessions: int = 0) -> None:
                if job_id is not None:
                    done[job_id] = sessions
                with lock:  # one bar redraw at a time
                    progress(DeviceProgress(serial, None, sum(done.values()),
                                            sum(planned.values()), len(final), len(planned),
                                            labels.get(job_id or "", "")))

            def execute(job_ids: list[str]) -> list[JobOutcome]:
                outcomes = execute_jobs(
                    self.settings, job_ids, shuffle_seed=shuffle_seed(run_id, serial),
                    progress=lambda job_id, sessions, _total: report(job_id, sessions),
                    should_stop=stop.is_set, runners=self.runners)
                for outcome in outcomes:
                    if outcome.status in repository.FINAL_JOB_STATES:
                        # A job that ended early still accounts for all of its planned sessions.
                        final.add(outcome.job_id)
                        report(outcome.job_id, planned[outcome.job_id])
                return outcomes

            report()
            if planned:
                execute(list(planned))
            for pool in pools:
                if serial in pool.members:
                    self._pool_loop(serial, queues[pool.pool_id], stop, planned, labels, execute)

        pool = ThreadPoolExecutor(max_workers=max(len(serials), 1), thread_name_prefix="device")
        futures = [pool.submit(device_loop, serial) for serial in serials]
        try:
            for future in futures:
                future.result()
        except BaseException:
            # Ctrl-C or a crash: devices finish their current session, then stop; the rest stays
            # pending.
            stop.set()
            raise
        finally:
            pool.shutdown(wait=True)
            with session_scope(self.settings) as db:
                if not stop.is_set():
                    for pool_work in pools:  # every phone of the pool was lost
                        queue = queues[pool_work.pool_id]
                        while (item := queue.take()) is not None:
                            repository.finish_job(db, item.job_id, (
                                "device_lost", f"no phone of pool {pool_work.selector} is left "
                                               "to run it; reconnect one and submit again"))
                repository.settle_run(db, run_id, stopped=stop.is_set())

    def _pool_loop(self, serial: str, queue: PoolQueue[PendingJob], stop: threading.Event,
                   planned: dict[str, int], labels: dict[str, str],
                   execute: Callable[[list[str]], list[JobOutcome]]) -> None:
        """One phone's share of a pool: take the next job, longest first, unless the phone is
        above the gate's limit (``HandOff``), until the pool is drained; a job of a phone that was
        lost goes back to the pool, and the phone leaves it."""
        with session_scope(self.settings) as db:
            device = db.scalars(select(Device).where(Device.serial == serial)).one_or_none()
            ref = DeviceRef.of(device) if device is not None else None
        if ref is None:
            return
        handoff: HandOff | None = None
        runner: Runner | None = None
        while not stop.is_set() and not queue.drained:
            item = queue.take()
            if item is None:  # the rest is in flight on other phones; a lost one's comes back
                queue.wait(1.0)
                continue
            spec = item.spec or JobSpec.from_settings(self.settings)
            policy = GatePolicy(max_temp_c=spec.max_temp_c, max_wait_s=spec.gate_max_wait_s)
            handoff = handoff or HandOff(spec.gate_max_wait_s)
            poll_s = min(spec.gate_poll_s, 5.0) or 1.0
            try:
                runner = runner or self.runners(ref)
                hot = runner.too_hot(policy)
            except FarmError:  # the phone is gone: the job is the others'
                queue.put_back(item)
                return
            if handoff.leaves_work(hot, time.monotonic()):
                queue.put_back(item)
                stop.wait(poll_s)
                continue
            with session_scope(self.settings) as db:
                claimed = repository.claim_job(db, item.job_id, serial)
            if not claimed:
                queue.finish()
                continue
            planned[item.job_id], labels[item.job_id] = item.planned, item.label
            try:
                (outcome,) = execute([item.job_id])
                with session_scope(self.settings) as db:
                    again = repository.return_to_pool(db, outcome.job_id)
                    successor = repository.pending_job(db, again) if again else None
            except BaseException:
                queue.finish()  # stopped or crashed: the job stays pending, for a resume
                raise
            if successor is not None:
                queue.put_back(successor)
                return
            queue.finish()

    def wait(self, run_id: str, progress: Progress = _quiet) -> str:
        with session_scope(self.settings) as db:
            run = db.get(Run, run_id)
            if run is None:
                raise RuntimeError(f"run {run_id} does not exist")
            return run.status

    def run(self, run_id: str) -> str:
        self.start(run_id)
        return self.wait(run_id)

    def revoke(self, task_ids: Sequence[str]) -> None:
        """Nothing is queued in embedded mode: a cancelled run's threads read its status."""


def _dispatch() -> ModuleType:
    # Lazy: Celery, kombu and redis take about 0.4 s to import, which every embedded `farm submit`
    # would pay before its first session (benchmarks/overhead.py, startup_s).
    from farm.distributed import dispatch

    return dispatch


class DistributedExecutor:
    default_devices: tuple[str, ...] = ("all",)

    def __init__(self, settings: Settings, poll_s: float = 0.25) -> None:
        self.settings = settings
        self.poll_s = poll_s

    def check(self) -> None:
        _dispatch().ping(self.settings)

    def devices(self, db: DbSession, names: Sequence[str]) -> tuple[list[Device], list[str]]:
        return resolve_live(db, names, heartbeat_max_age(self.settings)), []

    def start(self, run_id: str, progress: Progress = _quiet,
              stop: threading.Event | None = None) -> None:
        try:
            _dispatch().enqueue_run(self.settings, run_id)
        except FarmError:
            with session_scope(self.settings) as db:  # a run no worker will ever see must not
                repository.cancel_run(db, run_id)      # stay queued
            raise

    def wait(self, run_id: str, progress: Progress = _quiet) -> str:
        def each(snapshot: RunProgress) -> None:
            for device in snapshot.devices:
                progress(device)

        return follow_run(self.settings, run_id, each, poll_s=self.poll_s).status

    def run(self, run_id: str) -> str:
        self.start(run_id)
        return self.wait(run_id)

    def revoke(self, task_ids: Sequence[str]) -> None:
        _dispatch().revoke(self.settings, task_ids)


def executor_for(settings: Settings) -> Executor:
    return EmbeddedExecutor(settings) if settings.is_embedded else DistributedExecutor(settings)
