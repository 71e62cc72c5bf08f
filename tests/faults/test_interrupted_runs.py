"""Interrupted embedded runs (issue 28, item 4): a `farm submit` killed with SIGKILL, and one
stopped with Ctrl-C, on both databases.

The real `farm` command line runs in its own process group, as in a terminal, on the local device
(the host runner): SIGKILL of the group leaves the run with no process; Ctrl-C (SIGINT to the
group) must stop the farm after the session in progress, not kill that session. Either way
`farm resume` measures only what is missing and keeps every session already stored.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as DbSession

from orchestrator.config import load_settings
from orchestrator.schema import Job, Run
from orchestrator.schema import Session as SessionRow
from tests.support.cli import farm

pytestmark = pytest.mark.slow

REPEATS = 3
#: two jobs of three sessions on the local device; sessions long enough to be caught in the middle
SUBMIT = ("submit", "--models", "builtin-stylizer", "--threads", "1", "--delegates", "xnnpack,cpu",
          "--repeats", str(REPEATS), "--no-report")


@pytest.fixture
def env(farm_db_env: dict[str, str]) -> dict[str, str]:
    env = farm_db_env | {"FARM_MIN_SECS": "0.5"}
    assert farm("db", "upgrade", env=env).returncode == 0  # the database the test reads exists
    return env


@pytest.fixture
def engine(env: dict[str, str]) -> Iterator[Engine]:
    engine = create_engine(load_settings(env).effective_database_url)
    yield engine
    engine.dispose()


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    """`farm submit` in a process group of its own, as a terminal's foreground job."""
    return subprocess.Popen([sys.executable, "-m", "farm.cli", *SUBMIT], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _wait_for_sessions(engine: Engine, proc: subprocess.Popen[str], count: int) -> None:
    deadline = time.monotonic() + 120
    with DbSession(engine) as db:
        while (db.scalar(select(func.count()).select_from(SessionRow)) or 0) < count:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no session stored within 120 s"
            time.sleep(0.05)


def _sessions(engine: Engine) -> dict[tuple[str, int], tuple[int, str]]:
    """(job, repeat) -> (row id, status) of every stored session."""
    with DbSession(engine) as db:
        return {(s.job_id, s.repeat_index): (s.id, s.status)
                for s in db.scalars(select(SessionRow))}


def _run(engine: Engine) -> tuple[Run, list[Job]]:
    with DbSession(engine) as db:
        run = db.scalars(select(Run).order_by(Run.created_at)).first()
        assert run is not None
        return run, list(db.scalars(select(Job).where(Job.run_id == run.id).order_by(Job.seq)))


def test_a_killed_submit_is_seen_offered_and_resumed_keeping_its_sessions(
        env: dict[str, str], engine: Engine) -> None:
    proc = _start(env)
    _wait_for_sessions(engine, proc, 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    run, jobs = _run(engine)
    assert run.status == "running" and {j.status for j in jobs} & {"running", "pending"}
    kept = {key: value for key, value in _sessions(engine).items() if value[1] == "ok"}
    assert len(kept) >= 2

    # the same submission again: the dead run is settled and offered for resuming
    again = farm(*SUBMIT, env=env)
    assert again.returncode == 0, again.stderr
    assert f"run {run.id} was interrupted (its process {proc.pid} is gone)" in again.stderr
    assert f"`farm resume {run.id}` measures only what is missing" in again.stderr
    assert _run(engine)[0].status == "cancelled"

    resumed = farm("resume", run.id[:8], "--no-report", env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming run {run.id}" in resumed.stderr
    run, jobs = _run(engine)
    assert run.status == "done" and [j.status for j in jobs] == ["done", "done"]
    after = {key: value for key, value in _sessions(engine).items() if key[0] in
             {j.id for j in jobs}}
    # every session of the first attempt kept as it was; only the missing ones measured
    assert {key: after[key] for key in kept} == kept
    assert sorted(after) == sorted((j.id, i) for j in jobs for i in range(REPEATS))

    nothing = farm("resume", run.id, env=env)
    assert nothing.returncode == 2 and "nothing left to measure" in nothing.stderr


def test_ctrl_c_lets_the_session_in_progress_finish_and_leaves_the_rest_pending(
        env: dict[str, str], engine: Engine) -> None:
    proc = _start(env)
    _wait_for_sessions(engine, proc, 1)
    time.sleep(0.3)  # the second session has started
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "`farm resume" in err
    run, jobs = _run(engine)
    sessions = _sessions(engine)
    # the session in progress was stored whole, not as a crash; the rest waits for a resume
    assert len(sessions) >= 2 and {status for _, status in sessions.values()} == {"ok"}
    assert run.status == "cancelled" and "pending" in {j.status for j in jobs}
    assert "failed" not in {j.status for j in jobs}

    resumed = farm("resume", run.id, "--no-report", "-f", "json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert {row["status"] for row in json.loads(resumed.stdout)} == {"done"}
    assert len(_sessions(engine)) == len(jobs) * REPEATS
