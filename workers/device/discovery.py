"""Discovery: what the adb server sees, kept in the ``devices`` table.

Online phones get a full record (``inspect.device_record``: serial from ``ro.serialno``, not the
transport address). Offline and unauthorized transports are recorded with that state and reported,
never benchmarked; phones known from earlier that the server no longer lists become
``disconnected``. The ``local`` device and imported history are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.errors import DeviceError
from orchestrator.inventory import upsert_device
from orchestrator.schema import Device
from workers.device.adb import AdbClient, AdbPhone, adb_client, list_transports
from workers.device.inspect import device_record

__all__ = ["Discovery", "Seen", "discover", "register_seen", "scan"]

_PROBLEM_HINTS = {
    "unauthorized": "unlock it and accept the USB debugging prompt",
    "offline": "reconnect it (cable, `adb reconnect`)",
}


@dataclass(frozen=True)
class Seen:
    transport: str
    state: str
    record: dict[str, Any] | None = None


@dataclass
class Discovery:
    online: list[str] = field(default_factory=list)  # serials
    problems: list[str] = field(default_factory=list)  # one line each, with the fix


def scan(client: AdbClient) -> list[Seen]:
    seen = []
    for transport, state in list_transports(client):
        record = None
        if state == "device":
            try:
                record = device_record(AdbPhone(client, transport))
            except DeviceError:
                state = "offline"  # listed, but it did not answer
        seen.append(Seen(transport, state, record))
    return seen


def register_seen(db: Session, seen: list[Seen]) -> Discovery:
    result = Discovery()
    known = {d.serial: d for d in db.scalars(select(Device).where(Device.kind == "adb"))}
    by_transport = {(d.info or {}).get("transport"): d for d in known.values()}
    touched: set[str] = set()
    for item in seen:
        if item.record is not None:
            device = upsert_device(db, item.record)
            result.online.append(device.serial)
        else:
            existing = by_transport.get(item.transport) or known.get(item.transport)
            device = existing or upsert_device(db, {"serial": item.transport, "kind": "adb",
                                                    "info": {"transport": item.transport}})
            device.state = item.state
            hint = _PROBLEM_HINTS.get(item.state, "check `adb devices`")
            result.problems.append(f"{device.serial} ({item.transport}) is {item.state}: "
                                   f"not benchmarked; {hint}")
        touched.add(device.serial)
    for serial, device in known.items():
        if serial not in touched and device.state != "disconnected":
            device.state = "disconnected"
    db.flush()
    return result


def discover(db: Session, client: AdbClient | None = None) -> Discovery:
    """Scan the adb server (starting it if needed, as adb does) and update the devices table."""
    return register_seen(db, scan(client or adb_client()))
