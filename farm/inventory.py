"""What this farm has: the ``local`` device, the phones the adb server sees, the built-in models.

The device layer describes and scans (``workers.device``); the rows are written here, through the
repository.
"""

from __future__ import annotations

from sqlalchemy.orm import Session as DbSession

from orchestrator.repository import Discovery, record_scan, upsert_device
from orchestrator.schema import Device
from workers.device.adb import AdbClient, adb_client
from workers.device.discovery import scan
from workers.device.local import describe_local

__all__ = ["discover_phones", "ensure_local_device"]


def ensure_local_device(db: DbSession) -> Device:
    """This machine's row, as it is now."""
    return upsert_device(db, describe_local())


def discover_phones(db: DbSession, client: AdbClient | None = None) -> Discovery:
    """Scan the adb server (starting it if needed, as adb does) and update the devices table."""
    return record_scan(db, scan(client or adb_client()))
