"""Runs whose process is gone (``farm.stale``): the owner rule, and how such a run is settled, on
both databases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from farm.stale import find_resumable, owner_alive, settle_stale, this_process
from models.selection import resolve_models
from orchestrator import repository
from orchestrator.config import load_settings
from orchestrator.jobspec import JobSpec
from orchestrator.planning import Submission, create_run, resolve_devices
from orchestrator.schema import Job, Run
from orchestrator.storage import session_scope
from tests.support.scripted import register_phones


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process now
    return child.pid


def test_the_owner_is_this_process_alive_a_dead_or_reused_pid_is_not() -> None:
    me = this_process()
    assert owner_alive(me) is True
    assert owner_alive(me | {"pid": _dead_pid()}) is False
    # the pid is alive but is another process (started at another time): the kernel reused it
    assert owner_alive(me | {"started": me["started"] - 60}) is False
    assert owner_alive(me | {"host": "another-host"}) is None  # cannot be told from here


def _submission(threads: tuple[int, ...] = (1, 2)) -> Submission:
    return Submission(models=("builtin-segmenter",), devices=("P1",), threads=threads,
                      delegates=("xnnpack",), spec=JobSpec.from_settings(load_settings(), repeats=2))


def _run(tmp_path: Path, run_id: str, owner: dict[str, object] | None,
         submission: Submission) -> None:
    settings = load_settings()
    with session_scope(settings) as db:
        register_phones(db, settings, ("P1",), tmp_path)
        models, _ = resolve_models(db, submission.models)
        create_run(db, submission, models, resolve_devices(db, ("P1",)), run_id=run_id)
        repository.mark_running(db, run_id, owner=owner)
        first = db.scalars(select(Job).where(Job.run_id == run_id).order_by(Job.seq)).first()
        assert first is not None
        repository.start_jobs(db, [first.id])  # one job was under way when the process died


def test_a_run_whose_process_died_is_settled_and_offered_and_no_other(
        db_env: dict[str, str], tmp_path: Path) -> None:
    settings = load_settings()
    submission = _submission()
    me = this_process()
    _run(tmp_path, "dead", me | {"pid": _dead_pid()}, submission)
    _run(tmp_path, "alive", me, submission)
    _run(tmp_path, "elsewhere", me | {"host": "another-host", "pid": _dead_pid()}, submission)
    _run(tmp_path, "workers", None, submission)  # distributed: no owner, leases instead
    with session_scope(settings) as db:
        (stale,) = settle_stale(db)
        assert (stale.run_id, stale.unfinished, stale.jobs) == ("dead", 2, 2)
    with session_scope(settings) as db:
        status = {run.id: run.status for run in db.scalars(select(Run))}
        assert status == {"dead": "cancelled", "alive": "running", "elsewhere": "running",
                          "workers": "running"}
        jobs = db.scalars(select(Job).where(Job.run_id == "dead"))
        assert {job.status for job in jobs} == {"pending"}  # resumable, nothing lost
        resumable = find_resumable(db, submission.to_json())
        assert resumable is not None and resumable.id == "dead"
        assert find_resumable(db, _submission(threads=(1,)).to_json()) is None
        assert settle_stale(db) == []  # settled once


@pytest.mark.parametrize("status", ["done", "failed"])
def test_a_final_run_is_never_stale(db_env: dict[str, str], tmp_path: Path, status: str) -> None:
    settings = load_settings()
    submission = _submission()
    _run(tmp_path, "r", this_process() | {"pid": _dead_pid()}, submission)
    with session_scope(settings) as db:
        run = db.get(Run, "r")
        assert run is not None
        run.status = status
    with session_scope(settings) as db:
        assert settle_stale(db) == []
