"""A Redis outage longer than the lease TTL in the middle of a run (issue 28, item 2).

A real redis-server (AOF) is stopped while a `farm worker` is in the middle of a batch, stays down
for longer than the phone's lease TTL (so the lease is lost and the worker can neither renew it
nor ack its task), and comes back on the same port. The run must carry on within a minute of the
broker's return, with every session stored exactly once, on both databases.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.distributed.conftest import (
    WorkerProcess,
    run_jobs,
    run_status,
    start_worker,  # noqa: F401 (a fixture, here on this module's `dist_env`)
    wait_for,
)
from tests.support.cli import farm
from tests.support.postgres import create_database
from tests.support.redis import RedisServer, redis_server
from tests.support.virtual_phones import ConnectedPhone

# The virtual phones of the worker tests (re-exported fixtures).
from tests.workers.conftest import phone_factory, vphone_runtime  # noqa: F401

pytestmark = pytest.mark.slow

LEASE_TTL = 3.0
#: a visibility timeout far beyond the test: the stalled delivery must not come back by itself
OUTAGE_ENV = {"FARM_LEASE_TTL": str(int(LEASE_TTL)), "FARM_HEARTBEAT": "0.5",
              "FARM_VISIBILITY_TIMEOUT": "3600", "FARM_DEVICE_RETRIES": "1",
              # sessions of about a second: the batch is still running when the lease is lost
              "FARM_MIN_SECS": "0.8"}


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def dist_env(request: pytest.FixtureRequest, farm_env: dict[str, str], redis: RedisServer,
             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A distributed farm on each database (the SQLite file shared by the workers' processes)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'farm.db'}"
    else:
        url = create_database(request.getfixturevalue("postgres_base_url"),
                              f"farm_{uuid.uuid4().hex[:12]}")
    env = farm_env | OUTAGE_ENV | {"FARM_BROKER_URL": redis.url, "FARM_DATABASE_URL": url}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert farm("db", "upgrade", env=env).returncode == 0
    tool = farm("tools", "add", "--host-runner", "--abi", "arm64-v8a", env=env)
    assert tool.returncode == 0, tool.stderr
    return env


def _submit(env: dict[str, str], *options: str) -> str:
    result = farm("submit", "--models", "builtin-stylizer", "--delegates", "xnnpack",
                  "--no-report", *options, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("run ", 1)[1].split()[0]


def _final(run_id: str) -> bool:
    return run_status(run_id) in ("done", "failed", "cancelled")


def _consumer_pid(worker: WorkerProcess, serial: str) -> int:
    for pid in worker.consumer_pids():
        with contextlib.suppress(FileNotFoundError):  # a process that just ended
            if f"device.{serial}".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    raise AssertionError(f"no consumer of {serial}")


def test_a_broker_outage_longer_than_the_lease_ttl_is_carried_on_after_it(
        dist_env: dict[str, str], redis: RedisServer,
        phone_factory: Callable[..., ConnectedPhone],  # noqa: F811 (the fixtures imported above)
        start_worker: Callable[..., WorkerProcess]) -> None:  # noqa: F811
    """Two phones mid-batch when the broker goes away: the task of the first waits for it and
    carries on; the consumer of the second dies meanwhile, and its worker sends the jobs its
    task left running again."""
    carried, killed = "FARMO0001", "FARMO0002"
    for serial in (carried, killed):
        phone_factory(serial=serial)
    worker = start_worker("host-a", [carried, killed])
    run_id = _submit(dist_env, "--threads", "1,2", "--repeats", "3")

    def started(serial: str) -> bool:
        return any(job.sessions for job in run_jobs(run_id) if job.device.serial == serial)

    wait_for(lambda: started(carried) and started(killed), 120, "a session on each phone")
    redis.stop()
    os.kill(_consumer_pid(worker, killed), signal.SIGKILL)  # its task dies with the lease held
    time.sleep(LEASE_TTL * 1.5)  # both leases expire, unrenewed; the first task sees its lost
    redis.start()  # same port, same AOF: the queues and the unacked deliveries come back
    back = time.monotonic()

    deadline = back + 60
    while not _final(run_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    states = [(job.device.serial, job.status, len(job.sessions)) for job in run_jobs(run_id)]
    assert _final(run_id), f"60 s after the broker's return: {states}\n{worker.output()[-3000:]}"
    print(f"run finished {time.monotonic() - back:.1f} s after the broker came back")
    output = worker.output()
    assert run_status(run_id) == "done", output[-4000:]
    # each way back was taken: the first task carried on, the second's jobs were sent again
    assert f"device {carried}: lease taken again; carrying on" in output, output[-4000:]
    assert f"{killed}: 2 job(s) running with nobody holding the phone's lease" in output
    jobs = run_jobs(run_id)
    for job in jobs:
        assert job.status == "done", (job.status, job.error_kind, job.error_message)
        assert sorted(s.repeat_index for s in job.sessions) == [0, 1, 2]  # each exactly once
        assert all(s.status == "ok" for s in job.sessions)
    for serial in (carried, killed):
        spans = sorted((s.started_at, s.finished_at) for job in jobs for s in job.sessions
                       if job.device.serial == serial)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans
    # The first task's delivery was acknowledged; only the dead task's is left, to come back
    # after the visibility timeout and find its jobs final.
    wait_for(lambda: _unacked_queues(redis) == [f"device.{killed}"], 15,
             "the carried-on task's acknowledgement")


def _unacked_queues(redis: RedisServer) -> list[str]:
    return sorted(json.loads(value)[2] for value in redis.client().hvals("unacked"))
