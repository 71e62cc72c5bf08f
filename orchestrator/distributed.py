"""The database side of the distributed mode: live devices, run state, cancellation, progress.

No Celery here (``workers.dispatch`` sends and revokes tasks). Workers register their phones with
``devices.host`` = the worker's name and refresh ``devices.last_seen`` on every heartbeat; a phone
is *live* while its heartbeat is recent. A run's state follows its jobs: ``queued`` until a worker
starts it, ``running``, then ``done`` / ``failed`` once every job is final, or ``cancelled``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from orchestrator.config import Settings
from orchestrator.errors import NotFound, PlanError
from orchestrator.schema import Device, Job, Run, Session, utcnow

__all__ = [
    "FINAL_JOB_STATES",
    "FINAL_RUN_STATES",
    "DeviceProgress",
    "RunProgress",
    "cancel_run",
    "heartbeat_max_age",
    "live_devices",
    "mark_running",
    "nightly_run_id",
    "resolve_live",
    "run_progress",
    "settle_run",
]

FINAL_JOB_STATES = ("done", "failed", "skipped", "cancelled")
FINAL_RUN_STATES = ("done", "failed", "cancelled")


def heartbeat_max_age(settings: Settings) -> float:
    """A phone whose worker missed three heartbeats (and at least 15 s) is not live."""
    return max(15.0, 3 * float(settings.heartbeat_s))


def live_devices(db: DbSession, max_age_s: float) -> list[Device]:
    since = utcnow() - timedelta(seconds=max_age_s)
    rows = db.scalars(select(Device).where(Device.host.is_not(None), Device.state == "device")
                      .order_by(Device.serial))
    # SQLite hands back naive datetimes: compare in UTC either way.
    return [d for d in rows if d.info.get("worker") and _aware(d.last_seen) >= since]


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def resolve_live(db: DbSession, names: Sequence[str], max_age_s: float) -> tuple[str, ...]:
    """``all`` = every live phone; named devices must be live too (a worker must own them)."""
    live = {d.serial: d for d in live_devices(db, max_age_s)}
    chosen: list[str] = []
    for name in names:
        if name == "all":
            chosen += [serial for serial in live if serial not in chosen]
        elif name in live:
            chosen.append(name)
        else:
            raise PlanError(f"device {name!r} has no live worker",
                            hint="start `farm worker` on the host it is plugged into; live "
                                 f"devices: {', '.join(live) or 'none'}")
    if not chosen:
        raise PlanError("no worker has registered a live device",
                        hint="start `farm worker` on each phone host (FARM_BROKER_URL and "
                             "FARM_DATABASE_URL must match this machine's)")
    return tuple(chosen)


def nightly_run_id(schedule: str, night: date) -> str:
    """One id per (schedule, night): the key that makes a nightly submission insert-if-absent."""
    digest = hashlib.sha1(schedule.encode(), usedforsecurity=False).hexdigest()[:6]
    return f"nightly-{night:%Y%m%d}-{digest}"


def _run(db: DbSession, run_id: str) -> Run:
    run = db.get(Run, run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r}", hint="see `farm runs list` for run ids")
    return run


def mark_running(db: DbSession, run_id: str) -> None:
    run = _run(db, run_id)
    if run.status == "queued":
        run.status = "running"


def settle_run(db: DbSession, run_id: str) -> str:
    """Close the run once every job is final (whichever device finishes last); its status."""
    run = _run(db, run_id)
    statuses = [job.status for job in run.jobs]
    if run.status in FINAL_RUN_STATES or any(s not in FINAL_JOB_STATES for s in statuses):
        return run.status
    run.status = "failed" if statuses and all(s in ("failed", "skipped") for s in statuses) \
        else "done"
    run.finished_at = utcnow()
    return run.status


def cancel_run(db: DbSession, run_id: str) -> list[str]:
    """Mark the run and its unfinished jobs cancelled; the ids of their tasks (to revoke).

    A device's worker stops after its current session (its should-stop check reads the run)."""
    run = _run(db, run_id)
    if run.status in FINAL_RUN_STATES:
        raise PlanError(f"run {run_id} is already {run.status}", hint="nothing to cancel")
    task_ids: list[str] = []
    for job in run.jobs:
        if job.status in ("pending", "running"):
            job.status, job.finished_at = "cancelled", utcnow()
            job.error_kind, job.error_message = "cancelled", "cancelled by `farm cancel`"
        if job.task_id and job.task_id not in task_ids:
            task_ids.append(job.task_id)
    run.status, run.finished_at = "cancelled", utcnow()
    return task_ids


@dataclass(frozen=True)
class DeviceProgress:
    serial: str
    host: str | None
    sessions_done: int
    sessions_total: int
    jobs_final: int
    jobs_total: int
    current: str = ""


@dataclass(frozen=True)
class RunProgress:
    run_id: str
    status: str
    devices: list[DeviceProgress] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINAL_RUN_STATES


def run_progress(db: DbSession, run_id: str) -> RunProgress:
    """Per device: sessions stored out of planned (a final job counts all of its planned ones)."""
    run = _run(db, run_id)
    stored = dict(db.execute(select(Session.job_id, func.count()).join(Job)
                             .where(Job.run_id == run_id).group_by(Session.job_id)).all())
    per_device: dict[str, list[Job]] = {}
    for job in run.jobs:
        per_device.setdefault(job.device.serial, []).append(job)
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
                current = f"{job.model.name} {job.delegate} x{job.num_threads}"
        devices.append(DeviceProgress(serial, jobs[0].device.host, done, total, final, len(jobs),
                                      current))
    return RunProgress(run_id, run.status, devices)
