"""Runs whose `farm` process is gone: seen, settled, and offered for ``farm resume``.

An embedded run is executed by the `farm submit` (or `farm resume`) process that started it; the run
records that process as its owner: host name, pid and the process's start time (a pid alone is
reused by the kernel). A run still ``queued`` or ``running`` whose owner on this host no longer
exists was interrupted (SIGKILL, a crash, the machine's power): ``settle_stale`` makes it what a
Ctrl-C makes a run, ``cancelled`` with its unfinished jobs pending and every stored session kept, so
``farm resume`` can measure only what is missing. A run owned by another host is never judged from
here: its process cannot be seen.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import psutil
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from orchestrator import repository
from orchestrator.schema import Run

__all__ = ["StaleRun", "find_resumable", "owner_alive", "settle_stale", "this_process"]

#: start times are floats of a clock with jiffy resolution: equal within this, the same process
_START_TOLERANCE_S = 1.0


def this_process() -> dict[str, Any]:
    """The owner record of this process."""
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "started": psutil.Process().create_time()}


def owner_alive(owner: dict[str, Any]) -> bool | None:
    """Whether the owning process still runs: None when it is on another host (cannot be told)."""
    if owner.get("host") != socket.gethostname():
        return None
    try:
        started = psutil.Process(int(owner["pid"])).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:  # it exists, owned by another user: assume it is the one
        return True
    return abs(started - float(owner.get("started", 0.0))) <= _START_TOLERANCE_S


@dataclass(frozen=True)
class StaleRun:
    run_id: str
    pid: int
    unfinished: int  # jobs left to measure
    jobs: int


def settle_stale(db: DbSession) -> list[StaleRun]:
    """Every interrupted run of this host (open, its owning process gone) becomes ``cancelled``,
    its unfinished jobs pending."""
    stale = []
    for run in repository.owned_open_runs(db):
        if owner_alive(run.owner or {}) is False:
            repository.interrupt_run(db, run.id)
            stale.append(StaleRun(run.id, int((run.owner or {}).get("pid", 0)),
                                  repository.unfinished_count(db, run.id), len(run.jobs)))
    return stale


def find_resumable(db: DbSession, spec: dict[str, Any]) -> Run | None:
    """The newest stopped run of this same submission (``Run.spec``) with work left, if any."""
    newest = select(Run).where(Run.status == "cancelled").order_by(Run.created_at.desc())
    for run in db.scalars(newest.limit(20)):
        # what planning added to the spec (the names of one file) does not make it another run
        planned_from = all(run.spec.get(key) == value for key, value in spec.items())
        if planned_from and repository.unfinished_count(db, run.id):
            return run
    return None
