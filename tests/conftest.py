"""Fixtures shared by every test folder: a clean farm environment, the two databases and the
session's own adb server (Debian's adb on a free port with a throwaway HOME).

Every database test runs twice, on SQLite and on PostgreSQL (a throwaway cluster, started once
per test session).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from orchestrator import storage
from tests.support.adb import AdbServer, adb_server
from tests.support.postgres import create_database, postgres_server

# Small but real measurements: the tests check plumbing and numbers' presence, not speed.
# A phone a test unplugs for good is waited for 5 s, not the default 2 minutes.
FAST_PROTOCOL = {"FARM_REPEATS": "2", "FARM_NUM_RUNS": "3", "FARM_MIN_SECS": "0.05",
                 "FARM_WARMUP_MIN_SECS": "0.02", "FARM_MAX_SECS": "20", "FARM_GATE_POLL": "0.2",
                 "FARM_DEVICE_RECONNECT": "5"}

#: the files that keep one test process busy longest (measured on CI: the converter's TensorFlow
#: install and every light replica build, 2-3 min; the pool and nightly runs through real workers;
#: the servers that never answer), handed out first so that they run beside the rest, not after it
LONGEST_FIRST = ("tests/models/test_replicas.py", "tests/distributed/test_pools.py",
                 "tests/distributed/test_nightly.py", "tests/faults/test_silent_servers.py",
                 "tests/faults/test_broker_outage.py", "tests/distributed/test_faults.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))


@pytest.fixture(scope="session")
def postgres_base_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_template(postgres_base_url: str) -> str:
    """A database at the head revision that each test's database is copied from (much faster
    than migrating every one)."""
    url = create_database(postgres_base_url, "farm_template")
    engine = create_engine(url)
    storage.upgrade(engine)
    engine.dispose()
    return "farm_template"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'farm.db'}"
    base = request.getfixturevalue("postgres_base_url")
    return create_database(base, f"farm_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """A database at the head revision on each engine; None for SQLite, which the farm creates
    and migrates itself in FARM_HOME (the embedded default)."""
    if request.param == "sqlite":
        return None
    base = request.getfixturevalue("postgres_base_url")
    return create_database(base, f"farm_{uuid.uuid4().hex[:12]}",
                           template=request.getfixturevalue("postgres_template"))


@pytest.fixture(scope="session")
def adb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdbServer]:
    """The session's adb server; ``ANDROID_ADB_SERVER_PORT`` points at it while tests run."""
    with adb_server(tmp_path_factory.mktemp("adb-home")) as server:
        saved = os.environ.get("ANDROID_ADB_SERVER_PORT")
        os.environ["ANDROID_ADB_SERVER_PORT"] = str(server.port)
        try:
            yield server
        finally:
            if saved is None:
                os.environ.pop("ANDROID_ADB_SERVER_PORT", None)
            else:
                os.environ["ANDROID_ADB_SERVER_PORT"] = saved


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A clean environment (no FARM_* from the caller), FARM_HOME in tmp, fast protocol.

    Applied to this process (monkeypatch) and returned for subprocesses.
    """
    for key in list(os.environ):
        if key.startswith("FARM_"):
            monkeypatch.delenv(key)
    env = {"FARM_HOME": str(tmp_path / "farm-home"), **FAST_PROTOCOL}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    yield dict(os.environ)
    storage.dispose_engines()


@pytest.fixture
def farm_env(clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
             adb: AdbServer) -> dict[str, str]:
    """``clean_env`` with the session's own adb server: the farm must never reach a user's
    server on 5037."""
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb.port))
    return clean_env | {"ANDROID_ADB_SERVER_PORT": str(adb.port)}


def _on_database(env: dict[str, str], url: str | None,
                 monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    if url is None:
        return env
    monkeypatch.setenv("FARM_DATABASE_URL", url)
    return env | {"FARM_DATABASE_URL": url}


@pytest.fixture
def farm_db_env(farm_env: dict[str, str], migrated_database_url: str | None,
                monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``farm_env`` on each database."""
    return _on_database(farm_env, migrated_database_url, monkeypatch)


@pytest.fixture
def db_env(clean_env: dict[str, str], migrated_database_url: str | None,
           monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``clean_env`` on each database, with no adb server: for the fast tier."""
    return _on_database(clean_env, migrated_database_url, monkeypatch)
