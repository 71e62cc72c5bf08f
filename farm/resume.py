"""``farm resume RUN``: take up a stopped embedded run and measure only what is missing.

A run stops with work left when Ctrl-C stops it (``cancelled``, its unfinished jobs pending) or when
its process dies (``farm.stale`` settles it the same way). Resuming reopens it and executes its
unfinished jobs in this process: every session already stored is kept, and each job measures only
its missing sessions (``workers.service``: idempotent by job id). A run cancelled with
`farm cancel` has no unfinished jobs (they are cancelled), so there is nothing to resume.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from farm.executors import Executor, Progress
from farm.preflight import check_storage
from farm.stale import owner_alive, settle_stale
from farm.submit import Planned, SubmitOutcome, execute
from orchestrator import queries, repository
from orchestrator.config import Settings
from orchestrator.errors import PlanError
from orchestrator.schema import Run
from orchestrator.storage import session_scope

__all__ = ["resume"]


def _reopen(settings: Settings, run_id: str) -> Planned:
    """Check the run can be resumed and reopen it (one transaction)."""
    with session_scope(settings) as db:
        settle_stale(db)
        run = db.get(Run, queries.get_run(db, run_id).id)
        assert run is not None
        if run.status in ("queued", "running"):
            owner = run.owner or {}
            where = (f"process {owner.get('pid')} on {owner.get('host')}" if owner
                     else "on the farm's workers")
            if owner and owner_alive(owner) is None:
                where += ", another host: it cannot be checked from here"
            raise PlanError(f"run {run.id} is still {run.status} ({where})",
                            hint="wait for it (`farm watch`), or stop it (Ctrl-C in its terminal, "
                                 "or `farm cancel`) and resume it then")
        left = repository.unfinished_count(db, run.id)
        if not left:
            raise PlanError(f"run {run.id} is {run.status}: nothing left to measure",
                            hint="submit again to measure anew")
        stored = sum(1 for job in run.jobs for s in job.sessions if s.status == "ok")
        devices = len({job.device_id for job in run.jobs
                       if job.status in ("pending", "running") and job.device_id is not None})
        repository.reopen_run(db, run.id)
        return Planned(run.id, devices, [
            f"resuming run {run.id}: {left} of {len(run.jobs)} job(s) left; the {stored} "
            "session(s) already stored are kept"])


def resume(settings: Settings, executor: Executor, run_id: str, *, report: bool,
           on_planned: Callable[[Planned], None] = lambda _planned: None,
           progress: Progress = lambda _progress: None,
           stop: threading.Event | None = None) -> SubmitOutcome:
    """Reopen a stopped run (by id or a unique prefix) and execute its unfinished jobs here, to
    the end; then its summary and (with ``report``) its HTML report."""
    if not settings.is_embedded:
        raise PlanError("`farm resume` takes up embedded runs",
                        hint="with a broker, workers take up their phones' unfinished jobs by "
                             "themselves: follow the run with `farm watch RUN`")
    check_storage(settings)
    planned = _reopen(settings, run_id)
    on_planned(planned)
    return execute(settings, executor, planned, wait=True, report=report, progress=progress,
                   stop=stop)
