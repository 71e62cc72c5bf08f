"""The embedded executor: a run's jobs in this process, one thread per device.

A device never runs two jobs at once because each device's jobs run in order on that device's own
thread; devices run side by side. Every job goes through ``workers.service.execute_job``, the same
function the Celery task wraps, so embedded and distributed runs record identical rows.
Ctrl-C (``stop``) lets each device finish its current session, then leaves the rest pending.
"""

from __future__ import annotations

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
            work[job.device.serial].append((job.id, label, int(job.config.get("repeats", 1))))
    return dict(work)


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
    from workers.service import execute_job

    stop = stop or threading.Event()
    emit = progress or (lambda _event: None)
    work = pending_work(settings, run_id)
    with session_scope(settings) as db:
        run = db.get(Run, run_id)
        assert run is not None
        run.status = "running"

    def device_loop(serial: str) -> None:
        for job_id, label, repeats in work[serial]:
            if stop.is_set():
                return

            def on_session(jid: str, done: int, total: int, _label: str = label) -> None:
                emit(ProgressEvent(serial, jid, _label, done, total))

            outcome = execute_job(settings, job_id, progress=on_session)
            emit(ProgressEvent(serial, job_id, label, repeats, repeats, True, outcome.status))

    pool = ThreadPoolExecutor(max_workers=max(len(work), 1), thread_name_prefix="device")
    futures = [pool.submit(device_loop, serial) for serial in work]
    try:
        for future in futures:
            future.result()
    except BaseException:
        # Ctrl-C or a crash: devices finish their current job, then stop; the rest stays pending.
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True)
        _finish_run(settings, run_id, stop.is_set())
