"""The one job-execution function. The embedded executor calls it; the Celery task will wrap it.

``execute_job(settings, job_id)`` re-reads its rows by id and runs the job's sessions:

    load job -> verify the model file -> for each repeat: run one benchmark session (a fresh
    process), parse its output, store the session at once -> job value = median of the sessions'
    ``inference_avg_ms`` -> job status.

It is idempotent by job id: a job already finished is not run again, and a job interrupted part-way
resumes at its first missing session, keeping every session already stored. A session that fails
(bad delegate, broken model) ends the job with the parser's error kind and message: failures are
deterministic, so repeating them would only waste the phone's time.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session as DbSession

from orchestrator.config import Settings
from orchestrator.errors import FarmError
from orchestrator.results import ParsedRun
from orchestrator.schema import Job, Session, utcnow
from orchestrator.storage import session_scope
from workers.runners import RawSession, runner_for
from workers.tools.benchmark_argv import SessionSpec
from workers.tools.benchmark_output import parse_one

__all__ = ["JobOutcome", "execute_job", "session_from_parsed", "session_values"]

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


def execute_job(settings: Settings, job_id: str,
                progress: ProgressCallback | None = None) -> JobOutcome:
    """Run (or resume) one job and record every session; safe to call again for the same id."""
    with session_scope(settings) as db:
        job = _load(db, job_id)
        if job.status in _FINAL:
            return _outcome(job)
        job.status, job.started_at = "running", job.started_at or utcnow()
        job.attempts += 1
        repeats = int(job.config.get("repeats", 1))
        done = {s.repeat_index for s in job.sessions if s.status == "ok"}
        for stale in [s for s in job.sessions if s.status != "ok"]:
            db.delete(stale)  # an interrupted attempt's broken session is re-measured
        device, model = job.device, job.model
        spec = SessionSpec(
            graph=model.path, num_threads=job.num_threads, delegate=job.delegate,
            num_runs=int(job.config.get("num_runs", settings.num_runs)),
            min_secs=float(job.config.get("min_secs", settings.min_secs)),
            max_secs=float(job.config.get("max_secs", settings.max_secs)),
            warmup_runs=int(job.config.get("warmup_runs", settings.warmup_runs)),
            warmup_min_secs=float(job.config.get("warmup_min_secs", settings.warmup_min_secs)),
        )
        timeout = float(job.config.get("session_timeout_s", settings.session_timeout_s))
    error: tuple[str, str] | None = None
    try:
        runner = runner_for(settings, device)
        tool, provenance = runner.prepare(model)
        with session_scope(settings) as db:
            db.get(Job, job_id).tool_id = tool.id  # type: ignore[union-attr]
        for index in range(repeats):
            if index in done:
                continue
            raw = runner.run_session(spec, timeout)
            row = _store_session(settings, job_id, index, raw, provenance)
            if progress:
                progress(job_id, index + 1, repeats)
            if row.status != "ok":
                error = (row.error_kind or "unknown", row.error_message or "the session failed")
                break
    except FarmError as exc:
        error = (exc.kind, str(exc))
    with session_scope(settings) as db:
        job = _load(db, job_id)
        values = [s.inference_avg_ms for s in job.sessions
                  if s.status == "ok" and s.inference_avg_ms is not None]
        job.value_ms = statistics.median(values) if values else None
        job.status = "failed" if error else "done"
        job.error_kind, job.error_message = error or (None, None)
        job.finished_at = utcnow()
        return _outcome(job)
