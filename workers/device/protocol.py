"""The seam between the farm's logic and a phone: what a device must do, nothing about how.

``Device`` is the handful of operations the runner, the push cache and the probes need; the adb
phone (``workers.device.adb.AdbPhone``) implements it over the adb server, a scripted device
(``workers.device.scripted.ScriptedDevice``) from a script, for tests that need no adb at all.
``DeviceLink`` finds a phone again by its serial, whatever transport it has now (a phone that
re-enumerated on USB, or came back over Wi-Fi).

Errors: implementations raise ``DeviceError`` subclasses only (``DeviceLost`` for a link that
dropped mid-command, ``DeviceUnavailable`` for offline / unauthorized, ``DeviceStorageFull``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["Device", "DeviceLink", "ShellResult"]


@dataclass(frozen=True)
class ShellResult:
    stdout: str
    stderr: str
    exit_code: int


class Device(Protocol):
    #: how the device is reached right now (adb's transport serial: USB serial or host:port)
    transport: str

    def shell(self, argv: Sequence[str], timeout: float = 60.0) -> ShellResult:
        """Run one command, an argument list the implementation quotes for the device's shell."""
        ...

    def run_script(self, script: str, timeout: float = 60.0) -> ShellResult:
        """Run a shell script the farm wrote. Any user data in it must be ``shlex.quote``-d."""
        ...

    def push(self, local: Path, remote: str, mode: int = 0o644) -> None: ...

    def pull(self, remote: str, local: Path) -> None: ...

    def getprops(self) -> str:
        """``getprop``'s full listing (parse with ``probes.parse_getprop``)."""
        ...


class DeviceLink(Protocol):
    """How to reach one phone by its serial (``ro.serialno``)."""

    serial: str

    def find(self) -> Device | None:
        """The phone if it is online now, else None."""
        ...
