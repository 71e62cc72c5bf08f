"""A real adb server for tests: Debian's ``adb`` on a free port with a throwaway HOME.

Never the default server on 5037: the one a developer's phones may be attached to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import adbutils

from tests.support.ports import free_port


@dataclass(frozen=True)
class AdbServer:
    port: int
    env: dict[str, str]  # for `adb` subprocesses: HOME and ANDROID_ADB_SERVER_PORT

    @property
    def client(self) -> adbutils.AdbClient:
        return adbutils.AdbClient(host="127.0.0.1", port=self.port)

    def adb(self, *args: str, timeout: float = 60, input: bytes | None = None
            ) -> subprocess.CompletedProcess[bytes]:
        """The adb command line against this server."""
        return subprocess.run(["adb", "-P", str(self.port), *args], env=self.env, input=input,
                              capture_output=True, timeout=timeout, check=False)

    def state(self, serial: str) -> str | None:
        for info in self.client.list():
            if info.serial == serial:
                return info.state
        return None

    def wait_state(self, serial: str, state: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.state(serial)
            if seen == state:
                return
            time.sleep(0.1)
        raise AssertionError(f"{serial} stayed {seen!r}, expected {state!r} within {timeout}s")


@contextmanager
def adb_server(home: Path) -> Iterator[AdbServer]:
    assert shutil.which("adb"), "Debian's adb is required (apt-get install adb)"
    port = free_port()
    assert port != 5037
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(port)}
    subprocess.run(["adb", "-P", str(port), "start-server"], env=env, check=True,
                   capture_output=True, timeout=30)
    try:
        yield AdbServer(port=port, env=env)
    finally:
        subprocess.run(["adb", "-P", str(port), "kill-server"], env=env, capture_output=True,
                       timeout=30, check=False)
