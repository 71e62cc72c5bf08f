"""Session runners: how one benchmark session is executed on one kind of device.

- ``LocalRunner`` (``local.py``): this machine, through the host runner.
- ``PhoneRunner`` (``phone.py``): a phone through the ``Device`` seam; ``runner_for`` gives it the
  adb server's link to the phone.
"""

from __future__ import annotations

from orchestrator.repository import DeviceRef
from workers.device.adb import AdbLink, adb_client
from workers.runners.base import RawSession, Runner, SessionPlan, verify_model
from workers.runners.local import HOST_RUNNER_NAME, LocalRunner
from workers.runners.phone import PhoneRunner

__all__ = ["HOST_RUNNER_NAME", "LocalRunner", "PhoneRunner", "RawSession", "Runner", "SessionPlan",
           "runner_for", "verify_model"]


def runner_for(device: DeviceRef) -> Runner:
    if device.kind == "local":
        return LocalRunner(device)
    return PhoneRunner(device, AdbLink(adb_client(), device.serial))
