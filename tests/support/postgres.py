"""A throwaway PostgreSQL cluster (Debian's postgresql) on a free loopback port.

initdb refuses to run as root, so when the tests run as root the cluster belongs to the
``postgres`` system user (created by Debian's package) and is started through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support.ports import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run scripts/bootstrap.sh (apt postgresql)")
    return found[-1]


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a cluster and yield a SQLAlchemy base URL (``postgresql+psycopg://.../postgres``)."""
    root = Path(tempfile.mkdtemp(prefix="farm-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    subprocess.run(_as_owner([_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                              "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)
    server = subprocess.Popen(
        _as_owner([_bin("postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
                   "-k", str(sockets), "-c", "fsync=off", "-c", "full_page_writes=off",
                   "-c", "max_connections=200"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                             capture_output=True).returncode != 0:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the throwaway PostgreSQL server did not start")
            time.sleep(0.2)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(root, ignore_errors=True)


def create_database(base_url: str, name: str, template: str | None = None) -> str:
    """Create a database on the cluster (empty, or a copy of ``template``) and return its URL."""
    engine = create_engine(f"{base_url}/postgres", isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    engine.dispose()
    return f"{base_url}/{name}"
