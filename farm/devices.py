"""``farm devices list|show``: this machine and the phones the adb server sees, as records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from farm.inventory import discover_phones, ensure_local_device
from orchestrator.config import Settings
from orchestrator.errors import DeviceNotFound
from orchestrator.planning import parse_names
from orchestrator.schema import Device
from orchestrator.selectors import parse_selector
from orchestrator.storage import session_scope

__all__ = ["DEVICE_FIELDS", "list_devices", "show_device"]

#: a device record's fields, in the order they are shown
DEVICE_FIELDS = ("serial", "state", "kind", "manufacturer", "model", "soc", "abi", "os",
                 "fingerprint", "cpu", "ram_mb", "gpu", "host", "info", "first_seen", "last_seen")


def _record(device: Device) -> dict[str, Any]:
    return {key: getattr(device, key) for key in DEVICE_FIELDS}


def list_devices(settings: Settings, scan: bool = True, selector: str | None = None
                 ) -> tuple[list[dict[str, Any]], list[str]]:
    """Every known device (``scan``: after asking the adb server), or those a ``selector``
    (``model:"Pixel 7",android>=14``) matches, and what is wrong with the phones the adb server
    lists but the farm cannot use (one line each, with the fix)."""
    chosen = parse_selector(parse_names(selector, "--select")) if selector is not None else None
    with session_scope(settings) as db:
        ensure_local_device(db)
        problems = discover_phones(db).problems if scan else []
        devices = list(db.scalars(select(Device).order_by(Device.kind, Device.serial)))
        rows = [_record(d) for d in (chosen.select(devices) if chosen else devices)]
    return rows, problems


def show_device(settings: Settings, serial: str) -> dict[str, Any]:
    with session_scope(settings) as db:
        device = db.scalars(select(Device).where(Device.serial == serial)).one_or_none()
        if device is None:
            raise DeviceNotFound(f"no device {serial!r}", hint="see `farm devices list` for serials")
        return _record(device)
