"""The one place where results become rows, and where the rules about their states live.

Every writer goes through here: the job pipeline (``workers.service``), whatever executes it (the
embedded executor's threads, the Celery task), ``farm import-log`` and ``farm cancel``. Each
function works inside the caller's unit of work (``storage.session_scope``) and leaves committing
to it, so "one transaction per stored session" is the caller's ``with`` block around one
``save_session``.

The rules, each written once:

- A job is final once ``done``, ``failed``, ``skipped``, ``cancelled`` or ``moved``
  (``FINAL_JOB_STATES``); a run once ``done``, ``failed`` or ``cancelled``.
- A pool job is claimed by one phone of its pool (``claim_job``) and runs there. When that phone is
  lost, the job goes back to the pool (``return_to_pool``): as it is if it has no ok session yet;
  else it stays, ``moved``, with the sessions it has, and a successor job takes its place, so one
  job's sessions never mix two phones and nothing measured is thrown away.
- A job's value is the median of its ok sessions' ``inference_avg_ms`` (``job_value``).
- A run settles when its last job is final: ``failed`` if every job failed or was skipped (a moved
  job counts as its successor does), else ``done``; a run stopped with work left is
  ``cancelled`` (``settle_run``).
- A job that was running when its executor stopped goes back to ``pending`` (``release_jobs``),
  keeping its sessions; a later execution measures only what is missing (``start_jobs``).
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from orchestrator.errors import NotFound, PlanError
from orchestrator.jobspec import JobSpec
from orchestrator.results import SessionRecord
from orchestrator.schema import Device, Job, Run, Session, Tool, utcnow

__all__ = [
    "FINAL_JOB_STATES",
    "FINAL_RUN_STATES",
    "DeviceRef",
    "Discovery",
    "JobOutcome",
    "JobWork",
    "PendingJob",
    "PoolWork",
    "pending_job",
    "ScannedDevice",
    "ToolRef",
    "abandon_job",
    "cancel_run",
    "claim_job",
    "device_abis",
    "ensure_tool",
    "finish_job",
    "job_outcomes",
    "job_label",
    "job_value",
    "interrupt_run",
    "mark_running",
    "owned_open_runs",
    "record_scan",
    "record_task",
    "reopen_run",
    "release_jobs",
    "return_to_pool",
    "save_session",
    "session_columns",
    "settle_run",
    "start_jobs",
    "tools_for_abis",
    "unfinished_count",
    "unfinished_jobs",
    "unfinished_pool_jobs",
    "upsert_device",
]

FINAL_JOB_STATES = ("done", "failed", "skipped", "cancelled", "moved")
FINAL_RUN_STATES = ("done", "failed", "cancelled")


# -- sessions -----------------------------------------------------------------------------------

def session_columns(record: SessionRecord) -> dict[str, Any]:
    """The ``sessions`` columns of a record: measures, delegate verdict, ops, verdict, evidence."""
    parsed, delegate = record.parsed, record.parsed.delegate
    as_json = parsed.to_json()
    environment = dict(record.environment)
    return {
        **parsed.measures(),
        "status": record.status,
        "error_kind": record.error_kind,
        "error_message": record.error_message,
        "delegate_name": delegate.name if delegate else None,
        "delegate_coverage": delegate.coverage if delegate else None,
        "delegate_detail": as_json["delegate"],
        "ops": as_json["ops"],
        "imported": record.imported,
        "raw_output": record.raw_output,
        "command": list(record.command),
        "exit_code": record.exit_code,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "environment": environment,
        "temp_before_c": environment.get("temp_before_c"),
        "temp_after_c": environment.get("temp_after_c"),
        "model_sha256": record.provenance.model_sha256,
        "tool_name": record.provenance.tool_name,
        "tool_version": record.provenance.tool_version,
        "tool_sha256": record.provenance.tool_sha256,
        "device_fingerprint": record.provenance.device_fingerprint,
    }


def save_session(db: DbSession, job_id: str, index: int, record: SessionRecord,
                 tool_id: int | None = None) -> Session:
    """Store one session of a job (and the tool that measured it)."""
    row = Session(job_id=job_id, repeat_index=index, **session_columns(record))
    db.add(row)
    job = _job(db, job_id)
    if tool_id is not None and job.tool_id != tool_id:  # written once, not once a session
        job.tool_id = tool_id
    db.flush()
    return row


# -- jobs ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: str
    value_ms: float | None
    error_kind: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class DeviceRef:
    """What executing a job needs to know of its device, readable after the transaction."""

    id: int
    serial: str
    kind: str
    abi: str | None
    fingerprint: str | None
    cpu: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, device: Device) -> DeviceRef:
        return cls(device.id, device.serial, device.kind, device.abi, device.fingerprint,
                   dict(device.cpu or {}), dict(device.info or {}))


@dataclass(frozen=True)
class JobWork:
    """An unfinished job of a device batch, as ``start_jobs`` found it."""

    job_id: str
    label: str
    model_id: int
    model_path: str
    model_sha256: str
    delegate: str
    num_threads: int
    spec: JobSpec
    missing: tuple[int, ...]  # repeat indexes still to measure
    done: int  # ok sessions already stored


def job_value(values: Iterable[float | None]) -> float | None:
    """A job's value: the median of its ok sessions' values (None without any)."""
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _job(db: DbSession, job_id: str) -> Job:
    job = db.get(Job, job_id)
    if job is None:
        raise RuntimeError(f"job {job_id} does not exist")
    return job


def _outcome(job: Job) -> JobOutcome:
    return JobOutcome(job.id, job.status, job.value_ms, job.error_kind, job.error_message)


def job_label(job: Job) -> str:
    return f"{job.model.name} {job.delegate} x{job.num_threads}"


def start_jobs(db: DbSession, job_ids: Sequence[str]) -> tuple[DeviceRef | None, list[JobWork]]:
    """Mark the unfinished jobs running (one more attempt each) and say what is left to measure.

    A session that did not end ok is deleted, to be measured again; ok ones are kept. All jobs must
    belong to one device, which is returned with the work (None when ``job_ids`` is empty)."""
    device: DeviceRef | None = None
    work: list[JobWork] = []
    for job_id in job_ids:
        job = _job(db, job_id)
        if device is not None and job.device_id != device.id:
            raise RuntimeError("a batch holds the jobs of one device")
        if job.device is None:
            raise RuntimeError(f"pool job {job.id} has not been claimed by a phone")
        device = device or DeviceRef.of(job.device)
        if job.status in FINAL_JOB_STATES:
            continue
        if job.spec is None:
            raise RuntimeError(f"job {job.id} has no spec: imported jobs are not executed")
        job.status, job.started_at = "running", job.started_at or utcnow()
        job.attempts += 1
        done = {s.repeat_index for s in job.sessions if s.status == "ok"}
        for stale in [s for s in job.sessions if s.status != "ok"]:
            db.delete(stale)
        work.append(JobWork(job.id, job_label(job), job.model_id, job.model.path, job.model.sha256,
                            job.delegate, job.num_threads, job.spec,
                            tuple(i for i in range(job.spec.repeats) if i not in done), len(done)))
    db.flush()
    return device, work


def finish_job(db: DbSession, job_id: str, error: tuple[str, str] | None = None) -> JobOutcome:
    """Close a job: its value from its sessions, ``failed`` with ``error`` (kind, message), else
    ``done``."""
    job = _job(db, job_id)
    job.value_ms = job_value(s.inference_avg_ms for s in job.sessions if s.status == "ok")
    job.status = "failed" if error else "done"
    job.error_kind, job.error_message = error or (None, None)
    job.finished_at = utcnow()
    return _outcome(job)


def release_jobs(db: DbSession, job_ids: Iterable[str]) -> None:
    """Jobs an executor stopped working on go back to ``pending`` (a cancelled one stays so)."""
    for job_id in job_ids:
        job = _job(db, job_id)
        if job.status == "running":
            job.status = "pending"


def job_outcomes(db: DbSession, job_ids: Sequence[str]) -> list[JobOutcome]:
    return [_outcome(_job(db, job_id)) for job_id in job_ids]


@dataclass(frozen=True)
class PendingJob:
    job_id: str
    label: str
    planned: int  # sessions
    estimate_s: float | None = None
    spec: JobSpec | None = None


def _pending(job: Job) -> PendingJob:
    return PendingJob(job.id, job_label(job), job.planned_sessions, job.estimate_s, job.spec)


def pending_job(db: DbSession, job_id: str) -> PendingJob:
    return _pending(_job(db, job_id))


def _unfinished(db: DbSession, run_id: str) -> list[Job]:
    return list(db.scalars(select(Job).where(Job.run_id == run_id,
                                             Job.status.in_(("pending", "running")))
                           .order_by(Job.seq)))


def unfinished_jobs(db: DbSession, run_id: str) -> dict[str, list[PendingJob]]:
    """device serial -> the run's jobs not final yet on that device, in plan order: what an
    executor hands out (pool jobs a phone has claimed included)."""
    work: dict[str, list[PendingJob]] = {}
    for job in _unfinished(db, run_id):
        if job.device is not None:
            work.setdefault(job.device.serial, []).append(_pending(job))
    return work


@dataclass(frozen=True)
class PoolWork:
    pool_id: str
    selector: str
    members: tuple[str, ...]  # serials
    jobs: list[PendingJob]  # no phone yet


def unfinished_pool_jobs(db: DbSession, run_id: str) -> list[PoolWork]:
    """The run's pool jobs that no phone has claimed yet, by pool, in plan order."""
    pools: dict[str, PoolWork] = {}
    for job in _unfinished(db, run_id):
        if job.device is None and job.pool is not None:
            pool = pools.setdefault(job.pool.id, PoolWork(
                job.pool.id, job.pool.selector, tuple(job.pool.members), []))
            pool.jobs.append(_pending(job))
    return list(pools.values())


def _device(db: DbSession, serial: str) -> Device:
    device = db.scalars(select(Device).where(Device.serial == serial)).one_or_none()
    if device is None:
        raise NotFound(f"unknown device {serial!r}", hint="see `farm devices list`")
    return device


def claim_job(db: DbSession, job_id: str, serial: str) -> bool:
    """The phone ``serial`` takes a pool job no phone has claimed; False if it is final or another
    phone has it. (Concurrent claims: the row's update is conditional, one of them wins.)"""
    device = _device(db, serial)
    claimed = db.execute(
        update(Job).where(Job.id == job_id, Job.device_id.is_(None),
                          Job.status.in_(("pending", "running")))
        .values(device_id=device.id).execution_options(synchronize_session=False))
    db.expire_all()
    return bool(getattr(claimed, "rowcount", 0))


def abandon_job(db: DbSession, job_id: str, reason: str) -> str | None:
    """A claimed pool job whose execution died with its worker (no one holds its phone's lease):
    back to the pool as if its phone had been lost (``return_to_pool``)."""
    job = _job(db, job_id)
    if job.status in FINAL_JOB_STATES or job.pool_id is None or job.device_id is None:
        return None
    job.error_kind, job.error_message = "device_lost", reason
    return return_to_pool(db, job_id)


def return_to_pool(db: DbSession, job_id: str) -> str | None:
    """A pool job whose phone was lost (``device_lost`` / ``device_unavailable``) goes back to its
    pool; the id of the job that now waits there (None: not a pool job, or not lost).

    With no ok session it is simply unclaimed again. With some, those stay with it and with its
    phone: the job becomes ``moved`` and a successor (same model and config, its own id) waits in
    the pool for the sessions it still needs."""
    job = _job(db, job_id)
    if job.pool_id is None or job.error_kind not in ("device_lost", "device_unavailable"):
        return None
    kept = [s for s in job.sessions if s.status == "ok"]
    if not kept:
        for stale in list(job.sessions):
            db.delete(stale)
        job.device_id, job.status, job.finished_at = None, "pending", None
        job.error_kind = job.error_message = None
        db.flush()
        return job.id
    assert job.spec is not None and job.device is not None
    successor = Job(
        id=hashlib.sha1(f"{job.id}|moved".encode(), usedforsecurity=False).hexdigest(),
        run_id=job.run_id, seq=job.seq, device_id=None, pool_id=job.pool_id,
        model_id=job.model_id, delegate=job.delegate, num_threads=job.num_threads,
        spec=job.spec.with_repeats(job.spec.repeats - len(kept)),
        estimate_s=job.estimate_s, status="pending")
    db.add(successor)
    job.status = "moved"
    job.value_ms = job_value(s.inference_avg_ms for s in kept)
    job.error_message = (f"{job.device.serial} was lost after {len(kept)} session(s); the rest "
                         f"runs as job {successor.id[:12]} on another phone of the pool")
    db.flush()
    return successor.id


def record_task(db: DbSession, job_ids: Iterable[str], task_id: str) -> None:
    """The Celery task that carries these jobs (``farm cancel`` revokes it)."""
    for job in db.scalars(select(Job).where(Job.id.in_(list(job_ids)))):
        job.task_id = task_id


# -- runs ---------------------------------------------------------------------------------------

def _run(db: DbSession, run_id: str) -> Run:
    run = db.get(Run, run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r}", hint="see `farm runs list` for run ids")
    return run


def mark_running(db: DbSession, run_id: str, owner: dict[str, Any] | None = None) -> None:
    """The run is being executed; ``owner``: by this process (embedded), so that a run whose
    process died is seen (``farm.stale``)."""
    run = _run(db, run_id)
    if run.status == "queued":
        run.status = "running"
    if owner is not None:
        run.owner = owner


def owned_open_runs(db: DbSession) -> list[Run]:
    """Runs not final that a process owns (embedded runs under way, or whose process died)."""
    return [run for run in db.scalars(select(Run).where(Run.status.in_(("queued", "running"))))
            if run.owner]


def interrupt_run(db: DbSession, run_id: str) -> None:
    """The run's process is gone: its running jobs go back to pending, keeping their sessions, and
    the run is ``cancelled``, as after Ctrl-C (``reopen_run`` takes it up again)."""
    run = _run(db, run_id)
    release_jobs(db, [job.id for job in run.jobs])
    run.status, run.finished_at = "cancelled", utcnow()


def unfinished_count(db: DbSession, run_id: str) -> int:
    """The run's jobs not final yet (pending or running)."""
    return len(_unfinished(db, run_id))


def reopen_run(db: DbSession, run_id: str) -> None:
    """A stopped run (Ctrl-C, or its process died) is executed again: queued, not finished."""
    run = _run(db, run_id)
    run.status, run.finished_at = "queued", None


def settle_run(db: DbSession, run_id: str, *, stopped: bool = False) -> str:
    """Close the run once every job is final, whichever executor finished last; its status.

    ``stopped``: the executor stopped (Ctrl-C) with work left, which makes the run ``cancelled``.
    A run already final stays as it is (a run `farm cancel` cancelled is not done)."""
    run = _run(db, run_id)
    if run.status in FINAL_RUN_STATES:
        return run.status
    statuses = [job.status for job in run.jobs if job.status != "moved"]
    unfinished = any(status not in FINAL_JOB_STATES for status in statuses)
    if unfinished and not stopped:
        return run.status
    if unfinished:
        run.status = "cancelled"
    elif statuses and all(status in ("failed", "skipped") for status in statuses):
        run.status = "failed"
    else:
        run.status = "done"
    run.finished_at = utcnow()
    return run.status


def cancel_run(db: DbSession, run_id: str) -> list[str]:
    """Mark the run and its unfinished jobs cancelled; the ids of their tasks (to revoke).

    A device's executor stops after its current session (it reads the run's status)."""
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


# -- devices ------------------------------------------------------------------------------------

def upsert_device(db: DbSession, fields: dict[str, Any]) -> Device:
    """Create or update the device row with this serial; it was seen now."""
    device = db.scalars(select(Device).where(Device.serial == fields["serial"])).one_or_none()
    if device is None:
        device = Device(serial=fields["serial"])
        db.add(device)
    for key, value in fields.items():
        setattr(device, key, value)
    device.last_seen = utcnow()
    db.flush()
    return device


@dataclass(frozen=True)
class ScannedDevice:
    """One transport the adb server lists: its state, and the phone's record when it answered."""

    transport: str
    state: str
    record: dict[str, Any] | None = None


@dataclass
class Discovery:
    online: list[str] = field(default_factory=list)  # serials
    problems: list[str] = field(default_factory=list)  # one line each, with the fix


_PROBLEM_HINTS = {
    "unauthorized": "unlock it and accept the USB debugging prompt",
    "offline": "reconnect it (cable, `adb reconnect`)",
}


def record_scan(db: DbSession, seen: Sequence[ScannedDevice]) -> Discovery:
    """Keep the ``devices`` table as a scan of the adb server found it.

    Online phones get their full record; offline and unauthorized ones are recorded with that state
    and reported, never benchmarked; phones known from earlier that the scan no longer lists become
    ``disconnected``. The ``local`` device and imported history are left alone."""
    result = Discovery()
    known = {d.serial: d for d in db.scalars(select(Device).where(Device.kind == "adb"))}
    by_transport = {(d.info or {}).get("transport"): d for d in known.values()}
    touched: set[str] = set()
    for item in seen:
        if item.record is not None:
            device = upsert_device(db, item.record)
            result.online.append(device.serial)
        else:
            existing = by_transport.get(item.transport) or known.get(item.transport)
            device = existing or upsert_device(db, {"serial": item.transport, "kind": "adb",
                                                    "info": {"transport": item.transport}})
            device.state = item.state
            hint = _PROBLEM_HINTS.get(item.state, "check `adb devices`")
            result.problems.append(f"{device.serial} ({item.transport}) is {item.state}: "
                                   f"not benchmarked; {hint}")
        touched.add(device.serial)
    for serial, device in known.items():
        if serial not in touched and device.state != "disconnected":
            device.state = "disconnected"
    db.flush()
    return result


# -- tools --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ToolRef:
    """A registered benchmark tool, readable after the transaction."""

    id: int
    name: str
    version: str
    sha256: str
    abi: str
    path: str | None

    @classmethod
    def of(cls, tool: Tool) -> ToolRef:
        return cls(tool.id, tool.name, tool.version, tool.sha256, tool.abi, tool.path)


def device_abis(abi: str | None, info: Mapping[str, Any]) -> list[str]:
    """The ABIs a phone runs, its primary one first (an armeabi-v7a build runs on arm64)."""
    return [a for a in info.get("abilist", []) if a] or [abi or ""]


def tools_for_abis(db: DbSession, abis: Sequence[str]) -> list[ToolRef]:
    """Registered tools for any of ``abis``: the first ABI's first, newest first within an ABI."""
    tools = sorted(db.scalars(select(Tool).where(Tool.abi.in_(list(abis)))
                              .order_by(Tool.created_at.desc())),
                   key=lambda tool: list(abis).index(tool.abi))
    return [ToolRef.of(tool) for tool in tools]


def ensure_tool(db: DbSession, *, name: str, version: str, sha256: str, abi: str,
                path: str) -> ToolRef:
    """The tool row with this identity, created if it is new."""
    tool = db.scalars(select(Tool).filter_by(name=name, version=version, sha256=sha256, abi=abi)
                      ).first()
    if tool is None:
        tool = Tool(name=name, version=version, sha256=sha256, abi=abi, path=path)
        db.add(tool)
        db.flush()
    return ToolRef.of(tool)
