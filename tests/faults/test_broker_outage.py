"""A Redis outage longer than the lease TTL in the middle of a run (issue 28, item 2).

A real redis-server (AOF) is stopped while a `farm worker` is in the middle of a batch, stays down
for longer than the phone's lease TTL (so the lease is lost and the worker can neither renew it
nor ack its task), and comes back on the same port. The run must carry on within a minute of the
broker's return, with every session stored exactly once, on both databases.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.distributed.conftest import (
    WorkerProcess,
    run_jobs,
    run_status,
    sessions_stored,
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

LEASE_TTL = 4.0
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


def test_a_broker_outage_longer_than_the_lease_ttl_is_carried_on_after_it(
        dist_env: dict[str, str], redis: RedisServer,
        phone_factory: Callable[..., ConnectedPhone],  # noqa: F811 (the fixtures imported above)
        start_worker: Callable[..., WorkerProcess]) -> None:  # noqa: F811
    serial = phone_factory(serial="FARMO0001").phone.device_serial
    worker = start_worker("host-a", [serial])
    run_id = _submit(dist_env, "--threads", "1,2", "--repeats", "3")
    wait_for(lambda: sessions_stored(run_id) >= 1, 120, "a first session")
    redis.stop()
    time.sleep(LEASE_TTL * 1.5)  # the lease expires, unrenewed, and the worker sees it lost
    redis.start()  # same port, same AOF: the queue and the unacked delivery come back
    back = time.monotonic()

    wait_for(lambda: _final(run_id), 60, "the run to finish after the broker's return")
    print(f"run finished {time.monotonic() - back:.1f} s after the broker came back")
    assert run_status(run_id) == "done", worker.output()[-4000:]
    jobs = run_jobs(run_id)
    for job in jobs:
        assert job.status == "done", (job.status, job.error_kind, job.error_message)
        assert sorted(s.repeat_index for s in job.sessions) == [0, 1, 2]  # each exactly once
        assert all(s.status == "ok" for s in job.sessions)
    spans = sorted((s.started_at, s.finished_at) for job in jobs for s in job.sessions)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans
    # the delivery was acknowledged: it will not come back after the visibility timeout
    wait_for(lambda: redis.client().hlen("unacked") == 0, 15, "the task's acknowledgement")
