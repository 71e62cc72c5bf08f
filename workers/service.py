"""The one job-execution function, as explicit steps. Every executor calls it: the embedded one on a
thread per device, the Celery task under the device's lease.

``execute_jobs(settings, job_ids)`` runs (or resumes) the jobs of one device. It re-reads every row
by id, so a caller passes ids only:

    start     mark the jobs running; what is left to measure              (one transaction)
    connect   the device's runner (a device that cannot be reached fails every job)
    then each missing session, in an order shuffled across models and configs (seed recorded):
      prepare   tool and model on the device, once per model (pushed only when missing)
      measure   one session, a fresh process, behind the phone's thermal / battery gate; a phone
                lost mid-session is waited for (up to ``device_reconnect_s``, polled with backoff)
                and the session measured again, at most ``device_retries`` times
      parse     the output, corrected by what only the runner knows (``session_record``)
      store     ``before_write()``, then the session and its tool       (one transaction)
    finish    each job: its value (the median of its sessions) and status (one transaction)
    release   always, whatever happened: a job still running goes back to pending, keeping its
              sessions, so a stop, a lost lease or a crash never leaves a job running

Idempotent by job id: a finished job is not run again, and an interrupted job resumes at its missing
sessions. A session that fails (bad delegate, broken model) ends its job with the parser's error
kind and message: such failures are deterministic, so repeating them would only waste the phone's
time. A phone that does not come back fails its remaining jobs with kind ``device_lost``, keeping
everything already recorded.

A distributed caller passes ``before_write``, called before every write of a result: it raises
``LeaseLost`` when this worker no longer owns the phone, which ends the call at once (the jobs are
released) and leaves them to the lease's new owner, who resumes them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from orchestrator import repository
from orchestrator.config import Settings
from orchestrator.errors import DeviceLost, DeviceUnavailable, FarmError, LeaseLost
from orchestrator.repository import DeviceRef, JobOutcome, JobWork, ToolRef
from orchestrator.results import Provenance, SessionRecord
from orchestrator.storage import session_scope
from workers.device.gate import GatePolicy
from workers.runners import RawSession, Runner, SessionPlan, runner_for
from workers.tools.benchmark_argv import SessionSpec
from workers.tools.benchmark_output import parse_one

__all__ = ["JobOutcome", "RunnerFactory", "execute_job", "execute_jobs", "session_record"]

#: called after each stored session: (job id, sessions done, sessions planned)
ProgressCallback = Callable[[str, int, int], None]
#: the runner of a device (``workers.runners.runner_for``; tests pass scripted devices' runners)
RunnerFactory = Callable[[DeviceRef], Runner]


def session_record(raw: RawSession, provenance: Provenance) -> SessionRecord:
    """The parse step: the tool's output parsed, corrected by what only the runner knows."""
    parsed = parse_one(raw.output)
    record = SessionRecord.from_parse(
        parsed, raw.output, provenance, command=tuple(raw.argv), exit_code=raw.exit_code,
        started_at=raw.started_at, finished_at=raw.finished_at, environment=dict(raw.environment))
    verdict: tuple[str, str | None, str | None] | None = None
    if raw.error_kind and parsed.status != "failed":
        # The runner ended the session (timeout, lost device) before the tool could say why.
        verdict = ("incomplete" if parsed.status != "ok" else "failed", raw.error_kind,
                   raw.error_message)
    elif parsed.status == "ok" and raw.exit_code not in (0, None):
        verdict = ("failed", "crash", f"the tool exited with status {raw.exit_code} after its summary")
    elif parsed.status == "incomplete" and parsed.error is None:
        # Output that just stops says nothing of why; the exit status is all the evidence there is.
        crashed = raw.exit_code not in (0, None)
        verdict = ("incomplete", "crash" if crashed else "unknown",
                   f"the tool exited with status {raw.exit_code} before printing a summary"
                   if crashed else "the output ended before the tool printed a summary")
    if verdict is None:
        return record
    status, kind, message = verdict
    return SessionRecord(**{**record.__dict__, "status": status, "error_kind": kind,
                            "error_message": message})


def session_plan(work: JobWork) -> SessionPlan:
    """One session of the job, as its spec (frozen at planning) says."""
    spec = work.spec
    session = SessionSpec(
        graph=work.model_path, num_threads=work.num_threads, delegate=work.delegate,
        num_runs=spec.num_runs, min_secs=spec.min_secs, max_secs=spec.max_secs,
        warmup_runs=spec.warmup_runs, warmup_min_secs=spec.warmup_min_secs,
    )
    gate = GatePolicy(max_temp_c=spec.max_temp_c, min_battery=spec.min_battery,
                      max_wait_s=spec.gate_max_wait_s, poll_s=spec.gate_poll_s)
    return SessionPlan(spec=session, timeout_s=spec.session_timeout_s, pin=spec.pin, gate=gate,
                       device_retries=spec.device_retries)


@dataclass
class _Job:
    """One job's part of the batch."""

    work: JobWork
    plan: SessionPlan
    done: int
    error: tuple[str, str] | None = None

    @property
    def finished(self) -> bool:
        return self.error is not None or self.done == self.work.spec.repeats


@dataclass
class _Batch:
    """The steps of one device's batch, sharing its runner and what it has prepared."""

    settings: Settings
    device: DeviceRef
    runner: Runner
    before_write: Callable[[], None]
    tool: ToolRef | None = None
    prepared: set[int] = field(default_factory=set)  # model ids

    def prepare(self, job: _Job) -> ToolRef:
        if self.tool is None:
            with session_scope(self.settings) as db:
                self.tool = self.runner.choose_tool(db)
        if job.work.model_id not in self.prepared:
            self.runner.prepare_model(job.work.model_path, job.work.model_sha256, self.tool)
            self.prepared.add(job.work.model_id)
        return self.tool

    def measure(self, job: _Job) -> RawSession:
        """One session; on a lost phone wait for it (up to ``device_reconnect_s``, polled with
        backoff) and measure the session again, at most ``device_retries`` times.

        Mid-run, a phone the adb server now lists as offline is as lost as one whose link dropped.
        """
        retries, wait_s = job.plan.device_retries, float(self.settings.device_reconnect_s)
        for attempt in range(retries + 1):
            try:
                return self.runner.run_session(job.plan)
            except (DeviceLost, DeviceUnavailable) as exc:
                if attempt == retries:
                    raise DeviceLost(f"{exc.message}; lost {attempt + 1} time(s) in one session, "
                                     f"gave up after {attempt + 1} attempt(s)",
                                     hint="check the cable and the phone, then submit again "
                                          "(FARM_DEVICE_RETRIES allows more losses)") from exc
                if not self.runner.reconnect(wait_s=wait_s):
                    raise DeviceLost(f"{exc.message}; not back within {wait_s:g} s, gave up "
                                     f"after {attempt + 1} attempt(s)",
                                     hint="reconnect the phone and submit again "
                                          "(FARM_DEVICE_RECONNECT sets the wait)") from exc
        raise AssertionError("unreachable")

    def store(self, job: _Job, index: int, record: SessionRecord, tool: ToolRef) -> None:
        self.before_write()
        with session_scope(self.settings) as db:
            repository.save_session(db, job.work.job_id, index, record, tool_id=tool.id)
        job.done += 1
        if record.status != "ok":
            job.error = (record.error_kind or "unknown", record.error_message or "the session failed")

    def provenance(self, job: _Job, tool: ToolRef) -> Provenance:
        return Provenance(model_sha256=job.work.model_sha256, tool_name=tool.name,
                          tool_version=tool.version, tool_sha256=tool.sha256,
                          device_fingerprint=self.device.fingerprint)


def execute_jobs(settings: Settings, job_ids: Sequence[str], *,
                 shuffle_seed: int | None = None,
                 progress: ProgressCallback | None = None,
                 should_stop: Callable[[], bool] = lambda: False,
                 before_write: Callable[[], None] = lambda: None,
                 runners: RunnerFactory = runner_for) -> list[JobOutcome]:
    """Run (or resume) the jobs of one device, their sessions interleaved in a shuffled order
    (``shuffle_seed``, recorded with each session); safe to call again with the same ids."""
    with session_scope(settings) as db:
        device, work = repository.start_jobs(db, job_ids)
    jobs = [_Job(item, session_plan(item), item.done) for item in work]
    try:
        if device is not None and jobs:
            _measure_all(settings, device, jobs, shuffle_seed, progress, should_stop, before_write,
                         runners)
            before_write()
            with session_scope(settings) as db:
                for job in jobs:
                    if job.finished:
                        repository.finish_job(db, job.work.job_id, job.error)
    finally:
        _release(settings, [job.work.job_id for job in jobs if not job.finished], before_write)
    with session_scope(settings) as db:
        return repository.job_outcomes(db, job_ids)


def _release(settings: Settings, job_ids: list[str], before_write: Callable[[], None]) -> None:
    """Stopped, crashed or lease lost: what is unfinished stays pending for a later resume, unless
    another worker owns the phone now (its rows are that worker's to write)."""
    if not job_ids:
        return
    try:
        before_write()
    except LeaseLost:
        return
    with session_scope(settings) as db:
        repository.release_jobs(db, job_ids)


def _measure_all(settings: Settings, device: DeviceRef, jobs: list[_Job], shuffle_seed: int | None,
                 progress: ProgressCallback | None, should_stop: Callable[[], bool],
                 before_write: Callable[[], None], runners: RunnerFactory) -> None:
    slots = [(job, index) for job in jobs for index in job.work.missing]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(slots)
    try:
        batch = _Batch(settings, device, runners(device), before_write)
    except FarmError as exc:
        for job in jobs:
            job.error = (exc.kind, str(exc))
        return
    for position, (job, index) in enumerate(slots):
        if job.error or should_stop():
            continue
        try:
            tool = batch.prepare(job)
            raw = batch.measure(job)
            raw.environment["order"] = {"seed": shuffle_seed, "position": position}
            batch.store(job, index, session_record(raw, batch.provenance(job, tool)), tool)
            if progress:
                progress(job.work.job_id, job.done, job.work.spec.repeats)
        except LeaseLost:
            raise
        except DeviceLost as exc:
            # The phone is gone for good: every unfinished job on it fails; other phones go on.
            for other in jobs:
                if not other.finished:
                    other.error = (exc.kind, str(exc))
        except FarmError as exc:
            job.error = (exc.kind, str(exc))


def execute_job(settings: Settings, job_id: str,
                progress: ProgressCallback | None = None) -> JobOutcome:
    """Run (or resume) one job and record every session; safe to call again for the same id."""
    return execute_jobs(settings, [job_id], progress=progress)[0]
