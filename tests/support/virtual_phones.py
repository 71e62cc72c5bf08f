"""Virtual phones for tests: start one from a profile, connect it to a test adb server, stop it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import adbutils

from tests.support.adb import AdbServer
from workers.device import adb as device_adb
from workers.virtual_phone.phone import VirtualPhone, start_phone


@dataclass
class ConnectedPhone:
    phone: VirtualPhone
    adb: AdbServer

    @property
    def serial(self) -> str:
        return self.phone.serial

    @property
    def device(self) -> adbutils.AdbDevice:
        return self.adb.client.device(self.serial)

    def sh(self, command: str, timeout: float = 60) -> adbutils.ShellReturn:
        """A v2 shell (exit code, separate stderr), the path the farm uses."""
        return self.device.shell2(command, timeout=timeout, v2=True)


@contextmanager
def connected_phone(adb: AdbServer, runtime_dir: Path, *, profile: str = "pixel-7",
                    faults: str = "", serial: str | None = None,
                    expect_state: str | None = "device") -> Iterator[ConnectedPhone]:
    """A running phone known to ``adb``; waits for ``expect_state`` unless it is None."""
    phone = start_phone(profile, faults=faults, serial=serial, runtime_dir=runtime_dir)
    try:
        device_adb.connect(phone.serial, port=adb.port)
        if expect_state:
            adb.wait_state(phone.serial, expect_state)
        yield ConnectedPhone(phone=phone, adb=adb)
    finally:
        with contextlib.suppress(Exception):
            device_adb.disconnect(phone.serial, port=adb.port)
        phone.stop()
