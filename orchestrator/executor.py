"""The embedded executor: a run's jobs in this process, one thread per device.

A device never runs two sessions at once because all of its work runs on that device's own thread
(one ``workers.service.execute_jobs`` call, sessions interleaved in a shuffled order whose seed is
recorded); devices run side by side. The Celery task wraps the same service function, so embedded
and distributed runs record identical rows. Ctrl-C (``stop``) lets each device finish its current
session, then leaves unfinished jobs pending.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import select

from orchestrator.config import Settings
from orchestrator.schema import Job, Run, utcnow
from orchestrator.storage import session_scope

__all__ = ["ProgressEvent", "pending_work", "run_embedded"]


@dataclass(frozen=True)
class ProgressEvent:
    device: str
    job_id: str
    label: str
    sessions_done: int
    sessions_total: int
    job_finished: bool = False
    job_status: str | None = None


def pending_work(settings: Settings, run_id: str) -> dict[str, list[tuple[str, str, int]]]:
    """device serial -> [(job id, label, repeats)] of the run's unfinished jobs, in plan order."""
    work: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    with session_scope(settings) as db:
        jobs = db.scalars(select(Job).where(Job.run_id == run_id,
                                            Job.status.in_(("pending", "running")))
                          .order_by(Job.seq))
        for job in jobs:
            label = f"{job.model.name} {job.delegate} x{job.num_threads}"
            work[job.device.serial].append((job.id, label, job.planned_sessions))
    return dict(work)


def shuffle_seed(run_id: str, serial: str) -> int:
    """A per run and device seed: the order is random across devices and runs, yet replayable."""
    return int(hashlib.sha256(f"{run_id}|{serial}".encode()).hexdigest()[:8], 16)


def _finish_run(settings: Settings, run_id: str, stopped: bool) -> None:
    with session_scope(settings) as db:
        run = db.get(Run, run_id)
        assert run is not None
        statuses = [job.status for job in run.jobs]
        if stopped and any(s in ("pending", "running") for s in statuses):
            run.status = "cancelled"
        elif statuses and all(s in ("failed", "skipped") for s in statuses):
            run.status = "failed"
        else:
            run.status = "done"
        run.finished_at = utcnow()


def run_embedded(settings: Settings, run_id: str,
                 progress: Callable[[ProgressEvent], None] | None = None,
                 stop: threading.Event | None = None) -> None:
    from workers.service import execute_jobs

    stop = stop or threading.Event()
    emit = progress or (lambda _event: None)
    work = pending_work(settings, run_id)
    with session_scope(settings) as db:
        run = db.get(Run, run_id)
        assert run is not None
        run.status = "running"

    labels = {job_id: label for jobs in work.values() for job_id, label, _ in jobs}

    def device_loop(serial: str) -> None:
        def on_session(job_id: str, done: int, total: int) -> None:
            emit(ProgressEvent(serial, job_id, labels[job_id], done, total))

        job_ids = [job_id for job_id, _, _ in work[serial]]
        outcomes = execute_jobs(settings, job_ids, shuffle_seed=shuffle_seed(run_id, serial),
                                progress=on_session, should_stop=stop.is_set)
        for outcome, (job_id, label, repeats) in zip(outcomes, work[serial], strict=True):
            if outcome.status != "pending":  # a stopped job is not finished
                emit(ProgressEvent(serial, job_id, label, repeats, repeats, True, outcome.status))

    pool = ThreadPoolExecutor(max_workers=max(len(work), 1), thread_name_prefix="device")
    futures = [pool.submit(device_loop, serial) for serial in work]
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
        _finish_run(settings, run_id, stop.is_set())
