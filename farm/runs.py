"""Runs after submission: list and show them, their results, follow one, cancel one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from farm.stale import settle_stale
from orchestrator import queries, repository
from orchestrator.config import Settings
from orchestrator.progress import RunProgress, follow_run
from orchestrator.queries import ResultRow, RunSummary
from orchestrator.storage import session_scope

__all__ = ["RunDetails", "cancel", "list_runs", "run_details", "watch"]


class Revoker(Protocol):
    """What cancelling needs of an executor (``farm.executors``): dropping queued work."""

    def revoke(self, task_ids: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class RunDetails:
    run: RunSummary
    results: list[ResultRow]


def list_runs(settings: Settings, limit: int = 20) -> list[RunSummary]:
    """The newest runs; a run of this host whose process died is shown as what it now is
    (``farm.stale``: cancelled, resumable)."""
    with session_scope(settings) as db:
        settle_stale(db)
        return queries.list_runs(db, limit)


def run_details(settings: Settings, run_id: str) -> RunDetails:
    """A run (by id or a unique prefix) and its results, one row per job."""
    with session_scope(settings) as db:
        settle_stale(db)
        run = queries.get_run(db, run_id)
        return RunDetails(run, queries.run_results(db, run.id))


def watch(settings: Settings, run_id: str,
          on_progress: Callable[[RunProgress], None] = lambda _progress: None) -> RunProgress:
    """Follow a run (by id or a unique prefix) until it is final; its last progress."""
    with session_scope(settings) as db:
        full_id = queries.get_run(db, run_id).id
    return follow_run(settings, full_id, on_progress)


def cancel(settings: Settings, executor: Revoker, run_id: str) -> str:
    """Cancel a run: its unfinished jobs become cancelled and its queued tasks are revoked; a
    device in the middle of a session finishes that session and stops. The run's full id."""
    with session_scope(settings) as db:
        full_id = queries.get_run(db, run_id).id
        task_ids = repository.cancel_run(db, full_id)
    executor.revoke(task_ids)
    return full_id
