"""A phone that is away for a few seconds mid-run (issue 28, item 1).

A virtual phone goes ``offline`` at the real adb server in the middle of an embedded `farm submit`
and comes back 6 s later, as a phone does after a USB reset. The runner used to give up when its
first 2-second wait failed; it must wait (up to ``FARM_DEVICE_RECONNECT``, polling with backoff),
measure the interrupted session again and finish the run, with every session stored once, on both
databases.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session as DbSession

from orchestrator.config import load_settings
from orchestrator.schema import Job, Run
from orchestrator.schema import Session as SessionRow
from tests.support.adb import AdbServer
from tests.support.cli import farm
from tests.support.virtual_phones import ConnectedPhone

# The virtual phones of the worker tests (re-exported fixtures).
from tests.workers.conftest import phone, phone_factory, vphone_runtime  # noqa: F401

pytestmark = pytest.mark.slow

AWAY_S = 6.0  # three times the wait the runner used to give up after
REPEATS = 4


def _sessions(db: DbSession) -> int:
    return db.scalar(select(func.count()).select_from(SessionRow)) or 0


def test_a_phone_away_for_seconds_mid_run_is_waited_for_and_the_run_finishes(
        farm_db_env: dict[str, str], phone: ConnectedPhone, adb: AdbServer) -> None:  # noqa: F811
    # sessions long enough to be cut in the middle; the default wait for a lost phone
    env = farm_db_env | {"FARM_MIN_SECS": "0.5"}
    env.pop("FARM_DEVICE_RECONNECT")
    assert farm("tools", "add", "--host-runner", "--abi", "arm64-v8a", env=env).returncode == 0
    argv = [sys.executable, "-m", "farm.cli", "submit", "--devices", "all", "--models",
            "builtin-stylizer", "--threads", "1", "--delegates", "xnnpack", "--repeats",
            str(REPEATS), "--no-report"]
    engine = create_engine(load_settings(env).effective_database_url)
    submit = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 120
        with DbSession(engine) as db:
            while _sessions(db) < 1:
                assert submit.poll() is None and time.monotonic() < deadline, submit.stderr
                time.sleep(0.1)
        phone.phone.set_faults("offline")  # in the middle of the second session
        adb.wait_state(phone.serial, "offline")
        time.sleep(AWAY_S)
        phone.phone.clear_faults("offline")
        out, err = submit.communicate(timeout=180)
    finally:
        submit.kill()
        submit.wait()
    assert submit.returncode == 0, out + err
    with DbSession(engine) as db:
        run = db.scalars(select(Run)).one()
        job = db.scalars(select(Job).where(Job.run_id == run.id)).one()
        assert (run.status, job.status) == ("done", "done"), job.error_message
        # each session stored once: the interrupted one measured again, not twice
        assert sorted(s.repeat_index for s in job.sessions) == list(range(REPEATS))
        assert all(s.status == "ok" for s in job.sessions)
    engine.dispose()
