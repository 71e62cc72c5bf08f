"""Servers that accept connections but never answer (issue 28, item 3).

A TCP listener on loopback that accepts every connection and never sends a byte stands for a
broker or a database server that is wedged (or for the wrong port behind a firewall that
swallows). `farm` must not hang on it: it fails within seconds, naming the server (its password
masked) and the fix, and writes nothing.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orchestrator.config import load_settings
from orchestrator.schema import Run
from orchestrator.storage import CONNECT_TIMEOUT_S, session_scope
from tests.support.cli import farm

pytestmark = pytest.mark.slow

PASSWORD = "s3cret-pw"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port whose listener accepts and then never answers."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(server.accept()[0])  # kept open, never read nor written

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


def _timed_farm(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = farm(*args, env=env, timeout=60)
    return result, time.monotonic() - started


def test_submit_to_a_silent_broker_fails_within_10_s_and_leaves_no_run(
        farm_db_env: dict[str, str], silent_port: int) -> None:
    env = farm_db_env | {"FARM_BROKER_URL": f"redis://:{PASSWORD}@127.0.0.1:{silent_port}/0"}
    result, took = _timed_farm("submit", "--models", "builtin-stylizer", "--no-report", env=env)
    print(f"farm submit exited {result.returncode} after {took:.1f} s: {result.stderr.strip()}")
    assert result.returncode != 0 and took < 10, (took, result.stderr)
    assert f"redis://:***@127.0.0.1:{silent_port}/0" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert "did not answer" in result.stderr and "FARM_BROKER_URL" in result.stderr
    with session_scope(load_settings()) as db:
        assert db.scalar(select(func.count()).select_from(Run)) == 0  # no orphan run


def test_worker_with_a_silent_broker_says_so_and_keeps_retrying(
        farm_db_env: dict[str, str], silent_port: int, tmp_path: Path) -> None:
    """The decision: a worker waits out a broker that does not answer (as it waits out a
    restart), saying so in its log, instead of failing or hanging in silence."""
    env = farm_db_env | {"FARM_BROKER_URL": f"redis://:{PASSWORD}@127.0.0.1:{silent_port}/0",
                         "FARM_HEARTBEAT": "0.5"}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "farm.cli", "worker", "--devices", "local", "--no-control"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "does not answer" not in log.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()
            time.sleep(0.2)
        output = log.read_text()
        assert f"the broker redis://:***@127.0.0.1:{silent_port}/0 does not answer" in output, \
            output[-3000:]
        assert "retrying" in output and PASSWORD not in output
        assert worker.poll() is None  # still there, for when the broker answers
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_a_silent_postgresql_server_is_reported_within_10_s(
        clean_env: dict[str, str], silent_port: int) -> None:
    """PostgreSQL only: SQLite has no server to wait for."""
    env = clean_env | {
        "FARM_DATABASE_URL": f"postgresql+psycopg://farm:{PASSWORD}@127.0.0.1:{silent_port}/farm"}
    stderr = {}
    for args in (("runs", "list"), ("db", "upgrade")):
        # the same command on an answering (SQLite) database, timed just before: what the process
        # costs without the wait, several seconds on a loaded machine
        own = _timed_farm(*args, env=clean_env)[1]
        result, took = _timed_farm(*args, env=env)
        stderr[args[0]] = result.stderr
        print(f"farm {' '.join(args)} exited {result.returncode} after {took:.1f} s ({own:.1f} s "
              f"on SQLite)")
        # the connect timeout, not the 132 s of the operating system's retries
        assert result.returncode != 0 and took < CONNECT_TIMEOUT_S + own + 2, (args, took,
                                                                              result.stderr)
        assert "timeout" in result.stderr and "FARM_DATABASE_URL" in result.stderr, result.stderr
        assert PASSWORD not in result.stderr
    assert f"farm:***@127.0.0.1:{silent_port}/farm" in stderr["runs"]  # which server
