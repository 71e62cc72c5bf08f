"""Several virtual phones connected to the adb server: what ``farm devices simulate`` runs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from orchestrator.errors import DeviceError
from workers.device import adb as device_adb
from workers.virtual_phone.phone import VirtualPhone, start_phone
from workers.virtual_phone.profile import load_profile

__all__ = ["DEFAULT_BASE_PORT", "Fleet", "start_fleet"]

#: far from 5037 and from the odd ports 5555-5585 the adb server probes when it starts
DEFAULT_BASE_PORT = 7100


@dataclass
class Fleet:
    adb_port: int
    phones: list[VirtualPhone] = field(default_factory=list)

    def dead(self) -> list[VirtualPhone]:
        return [phone for phone in self.phones if not phone.alive()]

    def stop(self) -> None:
        for phone in self.phones:
            with contextlib.suppress(DeviceError):
                device_adb.disconnect(phone.serial, port=self.adb_port)
            phone.stop()
        self.phones.clear()


def start_fleet(
    count: int,
    *,
    profile: str = "pixel-7",
    faults: str = "",
    base_port: int = DEFAULT_BASE_PORT,
    adb_port: int | None = None,
) -> Fleet:
    """Start ``count`` phones on ``base_port``, ``base_port + 1``, ... (0: any free ports) and
    ``adb connect`` each; phone ``i > 0`` gets the profile's serial with ``i`` appended."""
    if count < 1:
        raise DeviceError(f"cannot simulate {count} phones", hint="use --count 1 or more")
    base_serial = load_profile(profile).serial
    fleet = Fleet(adb_port=device_adb.ensure_server(adb_port))
    try:
        for i in range(count):
            phone = start_phone(
                profile,
                port=base_port + i if base_port else 0,
                faults=faults,
                serial=base_serial if i == 0 else f"{base_serial}{i}",
            )
            fleet.phones.append(phone)
            device_adb.connect(phone.serial, port=fleet.adb_port)
    except BaseException:
        fleet.stop()
        raise
    return fleet
