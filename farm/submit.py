"""``farm submit``: plan model x device x config jobs, run them, summarize, report.

Embedded (no broker): the run executes in this process, to its end. Distributed: one task per
device goes to its queue and the call returns at once, unless ``wait`` follows the run to its end.
Bad input writes nothing: every list is parsed into the ``Submission`` before this is called,
``farm.preflight`` checks what the run needs before it is planned, and planning happens in one
transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session as DbSession

from farm.executors import Executor, Progress
from farm.preflight import check_storage, preflight
from farm.stale import StaleRun, find_resumable, settle_stale
from models.builtin import register_builtin_models
from models.selection import resolve_models
from orchestrator import queries
from orchestrator.config import Settings
from orchestrator.planning import Submission, create_run, distinct_files
from orchestrator.queries import ResultRow, RunSummary
from orchestrator.storage import session_scope

if TYPE_CHECKING:
    from farm.reports import Written

__all__ = ["Planned", "SubmitOutcome", "execute", "submit"]


@dataclass(frozen=True)
class Planned:
    run_id: str
    devices: int
    notes: list[str] = field(default_factory=list)  # what could not be included, with the fix


@dataclass(frozen=True)
class SubmitOutcome:
    planned: Planned
    status: str  # the run's status when the call returned ("queued": distributed, not waited for)
    summary: RunSummary | None = None  # with the results, once the run is final
    results: list[ResultRow] = field(default_factory=list)
    report: Written | None = None


def _plan(settings: Settings, executor: Executor, submission: Submission) -> Planned:
    check_storage(settings)
    executor.check()
    with session_scope(settings) as db:
        interrupted = settle_stale(db)
    with session_scope(settings) as db:
        register_builtin_models(db, settings)
        models, notes = resolve_models(db, submission.models)
        files, same = distinct_files(models)
        devices, problems = executor.devices(db, submission.devices)
        defaults = preflight(settings, db, files, devices)
        offers = _resume_offers(db, submission, interrupted)
        run = create_run(db, submission, models, devices, defaults=defaults)
        # first: the notes that say what the run measures, before those on what it leaves out
        return Planned(run.id, len(devices),
                       offers + [s.note() for s in same] + problems + notes)


def _resume_offers(db: DbSession, submission: Submission, interrupted: list[StaleRun]) -> list[str]:
    """Notes on runs whose process died, and on a stopped run of this same submission."""
    offers = [f"run {stale.run_id} was interrupted (its process {stale.pid} is gone) with "
              f"{stale.unfinished} of {stale.jobs} job(s) unfinished; its sessions are kept"
              for stale in interrupted]
    same = find_resumable(db, submission.to_json())
    if same is not None:
        offers.append(f"run {same.id} of this same submission was stopped with work left: "
                      f"`farm resume {same.id}` measures only what is missing")
    return offers


def _report(settings: Settings, run_id: str) -> Written:
    # Lazy: the report's dashboards and Plotly (about 0.1 s) are needed after the run, not on the
    # way to its first session (benchmarks/overhead.py, startup_s).
    from farm.reports import write_run_report

    return write_run_report(settings, run_id)


def submit(settings: Settings, executor: Executor, submission: Submission, *, wait: bool,
           report: bool, on_planned: Callable[[Planned], None] = lambda _planned: None,
           progress: Progress = lambda _progress: None,
           stop: threading.Event | None = None) -> SubmitOutcome:
    """Plan the submission and execute it; with ``wait`` (always, embedded) to its end, then the
    summary and (with ``report``) the run's HTML report."""
    planned = _plan(settings, executor, submission)
    on_planned(planned)
    return execute(settings, executor, planned, wait=wait, report=report, progress=progress,
                   stop=stop)


def execute(settings: Settings, executor: Executor, planned: Planned, *, wait: bool, report: bool,
            progress: Progress, stop: threading.Event | None) -> SubmitOutcome:
    """Execute a planned (or reopened) run; with ``wait``, to its end, then its summary and
    (with ``report``) its HTML report."""
    executor.start(planned.run_id, progress, stop)
    if not wait:
        return SubmitOutcome(planned, "queued")
    status = executor.wait(planned.run_id, progress)
    with session_scope(settings) as db:
        summary = queries.get_run(db, planned.run_id)
        results = queries.run_results(db, planned.run_id)
    written = _report(settings, planned.run_id) if report else None
    return SubmitOutcome(planned, status, summary, results, written)
