"""Fixtures of the distributed tests: Redis (AOF) and PostgreSQL started by the tests, `farm worker`
processes owning separate sets of virtual phones, all behind the session's real adb server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.config import load_settings
from orchestrator.schema import Device
from orchestrator.storage import session_scope
from tests.support.cli import farm
from tests.support.plans import run_jobs, run_status  # noqa: F401 (the distributed tests' too)
from tests.support.postgres import create_database
from tests.support.redis import RedisServer, redis_server

# The virtual phones of the worker tests, shared (re-exported fixtures).
from tests.workers.conftest import phone_factory, vphone_runtime  # noqa: F401

# Short enough that a lost delivery or a dead worker's lease comes back within seconds.
DISTRIBUTED = {"FARM_VISIBILITY_TIMEOUT": "8", "FARM_LEASE_TTL": "3", "FARM_HEARTBEAT": "0.5",
               "FARM_DEVICE_RETRIES": "1"}


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def dist_env(farm_env: dict[str, str], redis: RedisServer, postgres_base_url: str,
             monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Distributed settings (Redis broker, PostgreSQL results), applied here and for subprocesses;
    the host runner registered as the phones' benchmark tool."""
    url = create_database(postgres_base_url, f"farm_{uuid.uuid4().hex[:12]}")
    env = farm_env | DISTRIBUTED | {"FARM_BROKER_URL": redis.url, "FARM_DATABASE_URL": url}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert farm("db", "upgrade", env=env).returncode == 0
    tool = farm("tools", "add", "--host-runner", "--abi", "arm64-v8a", env=env)
    assert tool.returncode == 0, tool.stderr
    return env


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def consumer_pids(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                               text=True, check=False)
        return [int(pid) for pid in found.stdout.split()]

    def kill_all(self) -> None:
        """SIGKILL the supervisor and its consumers at once: the host crashed."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):  # a consumer stuck in its shutdown
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def start_worker(dist_env: dict[str, str], tmp_path: Path
                 ) -> Iterator[Callable[..., WorkerProcess]]:
    """``start_worker(name, serials, control=False, env=None, online=None)``: a `farm worker`
    owning those phones, running until the test ends; returns once the phones (or those of
    ``online``) are registered under its name."""
    started: list[WorkerProcess] = []

    def start(name: str, serials: list[str], control: bool = False,
              env: dict[str, str] | None = None, online: list[str] | None = None
              ) -> WorkerProcess:
        log = tmp_path / f"worker-{name}-{len(started)}.log"
        argv = [sys.executable, "-m", "farm.cli", "worker", "--name", name,
                "--devices", ",".join(serials), "--control" if control else "--no-control"]
        with log.open("wb") as out:
            process = subprocess.Popen(argv, env=env or dist_env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        worker = WorkerProcess(name, process, log)
        started.append(worker)
        expected = serials if online is None else online
        wait_for(lambda: registered(expected, name) or process.poll() is not None, 60,
                 f"worker {name} to register {expected}")
        assert process.poll() is None, worker.output()
        return worker

    yield start
    for worker in started:
        worker.stop()


def registered(serials: list[str], host: str) -> bool:
    with session_scope(load_settings()) as db:
        rows = db.scalars(select(Device).where(Device.serial.in_(serials))).all()
        return len(rows) == len(serials) and all(
            d.host == host and d.state == "device" for d in rows)


def sessions_stored(run_id: str) -> int:
    return sum(len(job.sessions) for job in run_jobs(run_id))
