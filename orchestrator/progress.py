"""How far a run has got, per device, read from the database; and the one loop that follows a run.

Whatever executes the run (the embedded executor's threads, the workers of a distributed farm), its
progress is what the rows say: sessions stored out of those planned, per device (a final job
counts all of its planned sessions, so a job that failed early does not hold a bar back).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from orchestrator.config import Settings
from orchestrator.errors import NotFound
from orchestrator.repository import FINAL_JOB_STATES, FINAL_RUN_STATES, job_label
from orchestrator.schema import Job, Run, Session
from orchestrator.storage import session_scope

__all__ = ["DeviceProgress", "RunProgress", "follow_run", "run_progress"]


@dataclass(frozen=True)
class DeviceProgress:
    serial: str
    host: str | None
    sessions_done: int
    sessions_total: int
    jobs_final: int
    jobs_total: int
    current: str = ""  # the running job's label


@dataclass(frozen=True)
class RunProgress:
    run_id: str
    status: str
    devices: list[DeviceProgress] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINAL_RUN_STATES


def run_progress(db: DbSession, run_id: str) -> RunProgress:
    run = db.get(Run, run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r}", hint="see `farm runs list` for run ids")
    stored = dict(db.execute(select(Session.job_id, func.count()).join(Job)
                             .where(Job.run_id == run_id).group_by(Session.job_id)).all())
    per_device: dict[str, list[Job]] = {}
    hosts: dict[str, str | None] = {}
    for job in run.jobs:
        # A pool job no phone has claimed yet is counted under its pool.
        if job.device is not None:
            key, hosts[job.device.serial] = job.device.serial, job.device.host
        else:
            key = f"pool {job.pool.selector}" if job.pool is not None else "?"
        per_device.setdefault(key, []).append(job)
    devices = []
    for serial, jobs in per_device.items():
        done = total = final = 0
        current = ""
        for job in jobs:
            planned = job.planned_sessions
            total += planned
            if job.status in FINAL_JOB_STATES:
                final += 1
                done += planned
            else:
                done += min(int(stored.get(job.id, 0)), planned)
            if job.status == "running":
                current = job_label(job)
        devices.append(DeviceProgress(serial, hosts.get(serial), done, total, final, len(jobs),
                                      current))
    return RunProgress(run_id, run.status, devices)


def follow_run(settings: Settings, run_id: str,
               on_progress: Callable[[RunProgress], None] = lambda _progress: None,
               poll_s: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> RunProgress:
    """Read the run's progress every ``poll_s`` until it is final; the last reading."""
    while True:
        with session_scope(settings) as db:
            progress = run_progress(db, run_id)
        on_progress(progress)
        if progress.finished:
            return progress
        sleep(poll_s)
