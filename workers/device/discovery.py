"""Discovery: what the adb server sees, as records (the caller stores them with
``orchestrator.repository.record_scan``).

Online phones get a full record (``inspect.device_record``: serial from ``ro.serialno``, not the
transport address); a transport that is listed but does not answer counts as offline.
"""

from __future__ import annotations

from orchestrator.errors import DeviceError
from orchestrator.repository import ScannedDevice
from workers.device.adb import AdbClient, AdbPhone, list_transports
from workers.device.inspect import device_record

__all__ = ["scan"]


def scan(client: AdbClient) -> list[ScannedDevice]:
    seen = []
    for transport, state in list_transports(client):
        record = None
        if state == "device":
            try:
                record = device_record(AdbPhone(client, transport))
            except DeviceError:
                state = "offline"  # listed, but it did not answer
        seen.append(ScannedDevice(transport, state, record))
    return seen
