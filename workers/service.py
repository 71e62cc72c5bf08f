"""The one job-execution function. The embedded executor calls it; the Celery task will wrap it.

``execute_jobs(settings, job_ids)`` runs the sessions of one device's jobs; it re-reads every row by
id, so a caller passes ids only:

    load jobs -> for each missing session, in shuffled order across models and configs:
    prepare the model and tool on the device (once each) -> thermal / battery gate -> one benchmark
    session (a fresh process) -> parse -> store the session at once -> per job: value = median of
    its sessions' ``inference_avg_ms``, status.

Idempotent by job id: a finished job is not run again, and an interrupted job resumes at its missing
sessions, keeping every session already stored. A session that fails (bad delegate, broken model)
ends its job with the parser's error kind and message: such failures are deterministic, so
repeating them would only waste the phone's time. A phone that drops mid-session is waited for
(reconnect with exponential backoff, ``device_retries`` times) and the session measured again; a
phone that does not come back fails its remaining jobs with kind ``device_lost``, keeping everything
already recorded.

A distributed caller passes ``before_write``, called before every write of a result (session, job
outcome, release): it raises ``LeaseLost`` when this worker no longer owns the phone, which ends the
call at once and leaves the rows to the lease's new owner, who resumes them.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session as DbSession

from orchestrator.config import Settings
from orchestrator.errors import DeviceLost, DeviceUnavailable, FarmError, LeaseLost
from orchestrator.results import ParsedRun
from orchestrator.schema import Job, Session, utcnow
from orchestrator.storage import session_scope
from workers.device.gate import GatePolicy
from workers.runners import RawSession, Runner, SessionPlan, runner_for
from workers.tools.benchmark_argv import SessionSpec
from workers.tools.benchmark_output import parse_one

__all__ = ["JobOutcome", "execute_job", "execute_jobs", "session_from_parsed", "session_values"]

#: called after each stored session: (job id, sessions done, sessions planned)
ProgressCallback = Callable[[str, int, int], None]

_FINAL = ("done", "failed", "skipped", "cancelled")


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: str
    value_ms: float | None
    error_kind: str | None = None
    error_message: str | None = None


def session_from_parsed(parsed: ParsedRun) -> dict[str, object]:
    """Session column values from a parsed invocation (measures, delegate verdict, error, ops)."""
    delegate = parsed.delegate
    return {
        "status": parsed.status,
        **parsed.measures(),
        "delegate_name": delegate.name if delegate else None,
        "delegate_coverage": delegate.coverage if delegate else None,
        "delegate_detail": parsed.to_json()["delegate"],
        "error_kind": parsed.error.kind if parsed.error else None,
        "error_message": parsed.error.message if parsed.error else None,
        "ops": parsed.to_json()["ops"],
    }


def _outcome(job: Job) -> JobOutcome:
    return JobOutcome(job.id, job.status, job.value_ms, job.error_kind, job.error_message)


def _load(db: DbSession, job_id: str) -> Job:
    job = db.get(Job, job_id)
    if job is None:
        raise RuntimeError(f"job {job_id} does not exist")
    return job


def session_values(raw: RawSession) -> dict[str, object]:
    """Session columns from a raw session: the parse, corrected by what only the runner knows."""
    parsed = parse_one(raw.output)
    values = session_from_parsed(parsed)
    if raw.error_kind and parsed.status != "failed":
        # The runner ended the session (timeout, lost device) before the tool could say why.
        values |= {"status": "incomplete" if parsed.status != "ok" else "failed",
                   "error_kind": raw.error_kind, "error_message": raw.error_message}
    elif parsed.status == "ok" and raw.exit_code not in (0, None):
        values |= {"status": "failed", "error_kind": "crash",
                   "error_message": f"the tool exited with status {raw.exit_code} after its summary"}
    elif parsed.status == "incomplete" and parsed.error is None:
        # Output that just stops says nothing of why; the exit status is all the evidence there is.
        crashed = raw.exit_code not in (0, None)
        values |= {"error_kind": "crash" if crashed else "unknown",
                   "error_message": f"the tool exited with status {raw.exit_code} before printing "
                                    "a summary" if crashed else
                                    "the output ended before the tool printed a summary"}
    return values


def _store_session(settings: Settings, job_id: str, index: int, raw: RawSession,
                   provenance: dict[str, object]) -> Session:
    values = session_values(raw)
    with session_scope(settings) as db:
        row = Session(job_id=job_id, repeat_index=index, imported=False,
                      started_at=raw.started_at, finished_at=raw.finished_at,
                      command=list(raw.argv), exit_code=raw.exit_code, raw_output=raw.output,
                      temp_before_c=raw.environment.get("temp_before_c"),
                      temp_after_c=raw.environment.get("temp_after_c"),
                      environment=dict(raw.environment), **provenance, **values)
        db.add(row)
    return row


@dataclass
class _Work:
    """One job's part of a device batch."""

    job_id: str
    model_id: int
    model_path: str
    model_sha256: str
    plan: SessionPlan
    repeats: int
    missing: list[int]
    error: tuple[str, str] | None = None
    done: int = 0
    provenance: dict[str, object] = field(default_factory=dict)


def _plan(job: Job) -> SessionPlan:
    """One session of the job, as its spec (frozen at planning) says."""
    spec = job.spec
    if spec is None:
        raise RuntimeError(f"job {job.id} has no spec: imported jobs are not executed")
    session = SessionSpec(
        graph=job.model.path, num_threads=job.num_threads, delegate=job.delegate,
        num_runs=spec.num_runs, min_secs=spec.min_secs, max_secs=spec.max_secs,
        warmup_runs=spec.warmup_runs, warmup_min_secs=spec.warmup_min_secs,
    )
    gate = GatePolicy(max_temp_c=spec.max_temp_c, min_battery=spec.min_battery,
                      max_wait_s=spec.gate_max_wait_s, poll_s=spec.gate_poll_s)
    return SessionPlan(spec=session, timeout_s=spec.session_timeout_s, pin=spec.pin, gate=gate,
                       device_retries=spec.device_retries)


def _start(settings: Settings, job_ids: Sequence[str]) -> tuple[list[_Work], object]:
    """Mark the unfinished jobs running; return their work and their (single) device row."""
    work: list[_Work] = []
    device = None
    with session_scope(settings) as db:
        for job_id in job_ids:
            job = _load(db, job_id)
            if device is not None and job.device_id != device.id:
                raise RuntimeError("execute_jobs runs the jobs of one device at a time")
            device = job.device
            if job.status in _FINAL:
                continue
            job.status, job.started_at = "running", job.started_at or utcnow()
            job.attempts += 1
            done = {s.repeat_index for s in job.sessions if s.status == "ok"}
            for stale in [s for s in job.sessions if s.status != "ok"]:
                db.delete(stale)  # an interrupted attempt's broken session is measured again
            repeats = job.planned_sessions
            work.append(_Work(job.id, job.model_id, job.model.path, job.model.sha256,
                              _plan(job), repeats,
                              [i for i in range(repeats) if i not in done], done=len(done)))
    return work, device


def _finish(settings: Settings, item: _Work) -> JobOutcome:
    with session_scope(settings) as db:
        job = _load(db, item.job_id)
        values = [s.inference_avg_ms for s in job.sessions
                  if s.status == "ok" and s.inference_avg_ms is not None]
        job.value_ms = statistics.median(values) if values else None
        job.status = "failed" if item.error else "done"
        job.error_kind, job.error_message = item.error or (None, None)
        job.finished_at = utcnow()
        return _outcome(job)


def _run_with_reconnect(runner: Runner, item: _Work) -> RawSession:
    """One session; on a lost phone wait for it (exponential backoff) and measure again.

    Mid-run, a phone the adb server now lists as offline is as lost as one whose link dropped.
    """
    retries = item.plan.device_retries
    for attempt in range(retries + 1):
        try:
            return runner.run_session(item.plan)
        except (DeviceLost, DeviceUnavailable) as exc:
            if attempt == retries or not runner.reconnect(wait_s=2.0 * 2 ** attempt):
                raise DeviceLost(f"{exc.message}; gave up after {attempt + 1} attempt(s)",
                                 hint="reconnect the phone and submit again") from exc
    raise AssertionError("unreachable")


def execute_jobs(settings: Settings, job_ids: Sequence[str], *,
                 shuffle_seed: int | None = None,
                 progress: ProgressCallback | None = None,
                 should_stop: Callable[[], bool] = lambda: False,
                 before_write: Callable[[], None] = lambda: None) -> list[JobOutcome]:
    """Run (or resume) the jobs of one device, their sessions interleaved in a shuffled order
    (``shuffle_seed``, recorded with each session); safe to call again with the same ids."""
    work, device = _start(settings, job_ids)
    if not work:
        with session_scope(settings) as db:
            return [_outcome(_load(db, job_id)) for job_id in job_ids]
    slots = [(item, index) for item in work for index in item.missing]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(slots)
    try:
        runner = runner_for(settings, device)  # type: ignore[arg-type]
    except FarmError as exc:
        for item in work:
            item.error = (exc.kind, str(exc))
        slots = []
    prepared: dict[int, tuple[int, dict[str, object]]] = {}
    for position, (item, index) in enumerate(slots):
        if item.error or should_stop():
            continue
        try:
            if item.model_id not in prepared:
                tool, provenance = runner.prepare_model(item.model_path, item.model_sha256)
                prepared[item.model_id] = (tool.id, provenance)
            tool_id, item.provenance = prepared[item.model_id]
            raw = _run_with_reconnect(runner, item)
            raw.environment["order"] = {"seed": shuffle_seed, "position": position}
            before_write()
            row = _store_session(settings, item.job_id, index, raw, item.provenance)
            with session_scope(settings) as db:
                _load(db, item.job_id).tool_id = tool_id
            item.done += 1
            if progress:
                progress(item.job_id, item.done, item.repeats)
            if row.status != "ok":
                item.error = (row.error_kind or "unknown", row.error_message or "the session failed")
        except LeaseLost:
            raise
        except DeviceLost as exc:
            # The phone is gone for good: every unfinished job on it fails; other phones go on.
            for other in work:
                if other.error is None and other.done < other.repeats:
                    other.error = (exc.kind, str(exc))
        except FarmError as exc:
            item.error = (exc.kind, str(exc))
    before_write()
    if should_stop():
        # Stopped: unfinished jobs stay pending for a later resume; finished ones are recorded.
        finished = [item for item in work if item.error or item.done == item.repeats]
        _release(settings, [item.job_id for item in work if item not in finished])
        work = finished
    outcomes = {item.job_id: _finish(settings, item) for item in work}
    with session_scope(settings) as db:
        return [outcomes.get(job_id) or _outcome(_load(db, job_id)) for job_id in job_ids]


def _release(settings: Settings, job_ids: list[str]) -> None:
    with session_scope(settings) as db:
        for job_id in job_ids:
            job = _load(db, job_id)
            if job.status == "running":  # a job cancelled meanwhile stays cancelled
                job.status = "pending"


def execute_job(settings: Settings, job_id: str,
                progress: ProgressCallback | None = None) -> JobOutcome:
    """Run (or resume) one job and record every session; safe to call again for the same id."""
    return execute_jobs(settings, [job_id], progress=progress)[0]
