"""Follow a distributed run from the database: one live progress bar per device."""

from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from orchestrator.cli._common import err_console
from orchestrator.config import Settings
from orchestrator.distributed import RunProgress, run_progress
from orchestrator.storage import session_scope


def _snapshot(current: Settings, run_id: str) -> RunProgress:
    with session_scope(current) as db:
        return run_progress(db, run_id)


def follow_run(current: Settings, run_id: str, poll_s: float = 1.0) -> RunProgress:
    """Poll until the run is final; the last snapshot. Ctrl-C stops following, not the run."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[job]}"), TimeElapsedColumn())
    snapshot = _snapshot(current, run_id)
    with Progress(*columns, console=err_console, transient=False) as progress:
        bars = {d.serial: progress.add_task(f"{d.serial} ({d.host or '?'})",
                                            total=d.sessions_total, job="")
                for d in snapshot.devices}
        while True:
            for device in snapshot.devices:
                progress.update(bars[device.serial], completed=device.sessions_done,
                                job=device.current)
            if snapshot.finished:
                return snapshot
            time.sleep(poll_s)
            snapshot = _snapshot(current, run_id)
