"""Files on the phone, keyed by sha256: a file already there with the right hash is never pushed
again; a partial or corrupted copy is detected and pushed again.

Layout on the phone: ``/data/local/tmp/farm/<sha256>/<role>`` where role is ``model.tflite`` or
``benchmark_model``. Only hex digests and fixed names reach the device's paths, so a model or tool
name chosen by a user never appears in a shell command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import DeviceError, DeviceStorageFull
from workers.device.protocol import Device

__all__ = ["FARM_DIR", "Pushed", "ensure_on_device", "remote_path"]

FARM_DIR = "/data/local/tmp/farm"
_ROLES = ("model.tflite", "benchmark_model")
_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pushed:
    remote: str
    pushed: bool  # False: the phone already had it


def remote_path(sha256: str, role: str) -> str:
    if not _HEX.match(sha256) or role not in _ROLES:
        raise ValueError(f"bad cache key {sha256!r} / {role!r}")
    return f"{FARM_DIR}/{sha256}/{role}"


def _remote_sha256(phone: Device, remote: str) -> str | None:
    result = phone.shell(["sha256sum", remote], timeout=120)
    if result.exit_code != 0 or not result.stdout.strip():
        return None
    return result.stdout.split()[0].lower()


def _free_bytes(phone: Device, folder: str) -> int | None:
    """Free bytes on the file system holding ``folder`` (``df -k``'s Available column)."""
    lines = phone.shell(["df", "-k", folder], timeout=30).stdout.strip().splitlines()
    fields = lines[-1].split() if len(lines) >= 2 else []
    return int(fields[3]) * 1024 if len(fields) >= 4 and fields[3].isdigit() else None


def ensure_on_device(phone: Device, local: Path, sha256: str, role: str) -> Pushed:
    """Make ``local`` (whose hash is ``sha256``) present and intact on the phone."""
    remote = remote_path(sha256, role)
    if _remote_sha256(phone, remote) == sha256:
        return Pushed(remote, pushed=False)
    executable = role == "benchmark_model"
    phone.shell(["mkdir", "-p", remote.rsplit("/", 1)[0]], timeout=30)
    for _attempt in range(2):
        try:
            phone.push(local, remote, mode=0o755 if executable else 0o644)
        except DeviceStorageFull:
            raise
        except DeviceError as exc:
            # adb's sync protocol reports a failed write as a bare FAIL; the phone's free space
            # tells whether it was a full disk (anything else, a lost phone included, stands).
            free = _free_bytes(phone, remote.rsplit("/", 1)[0])
            if free is not None and free < local.stat().st_size:
                raise DeviceStorageFull(
                    f"{phone.transport}: no room for {local.name} ({local.stat().st_size} bytes, "
                    f"{free} free)", hint="free space on the phone (/data/local/tmp) and retry"
                ) from exc
            raise
        if _remote_sha256(phone, remote) == sha256:
            break
    else:
        raise DeviceError(f"{phone.transport}: {local.name} arrives corrupted after two pushes",
                          hint="check the USB cable / link and free space on the phone")
    if executable:
        phone.shell(["chmod", "755", remote], timeout=30)
    return Pushed(remote, pushed=True)
