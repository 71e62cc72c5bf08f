"""``farm devices``: the phones the adb server sees, and virtual phones to try the farm without any.

The device side lives in ``workers.virtual_phone``; it is imported inside each command so that
``farm --help`` stays fast and the orchestrator never loads adbutils unless a command needs it.
"""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from orchestrator.cli._common import console

__all__ = ["register"]

devices_app = typer.Typer(help="List and inspect devices; simulate virtual phones.",
                          no_args_is_help=True)


@devices_app.command("simulate")
def simulate(
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="how many phones")] = 1,
    profile: Annotated[str, typer.Option("--profile", "-p", help="profile name or .toml")] = (
        "pixel-7"
    ),
    faults: Annotated[
        str, typer.Option(help="faults from the start, e.g. 'slow=256,overheat' (see docs)")
    ] = "",
    base_port: Annotated[
        int, typer.Option(help="TCP port of the first phone, the next ones follow; 0 = any")
    ] = 7100,
) -> None:
    """Start N virtual phones, connect them to the adb server, run until Ctrl-C or SIGTERM."""
    from workers.virtual_phone.fleet import start_fleet

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    fleet = start_fleet(count, profile=profile, faults=faults, base_port=base_port)
    try:
        for phone in fleet.phones:
            console.print(f"{phone.serial}\t{phone.profile}\t{phone.device_serial}", highlight=False)
        console.print(
            f"[dim]{len(fleet.phones)} virtual phone(s) on adb server port {fleet.adb_port}; "
            "Ctrl-C to stop[/]"
        )
        while not stop.wait(1.0):
            dead = fleet.dead()
            if dead:
                from orchestrator.errors import DeviceError

                raise DeviceError(
                    f"virtual phone {dead[0].serial} exited",
                    hint=f"its log was in {dead[0].workdir / 'server.log'}",
                )
    finally:
        fleet.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@devices_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
    scan: Annotated[bool, typer.Option(help="ask the adb server first (else: the last known)")
                    ] = True,
) -> None:
    """This machine (local) and every phone the adb server sees, with state and record."""
    from orchestrator.cli._common import err_console, settings
    from orchestrator.inventory import ensure_local_device
    from orchestrator.schema import Device
    from orchestrator.storage import session_scope

    with session_scope(settings()) as db:
        ensure_local_device(db)
        problems = []
        if scan:
            from workers.device.discovery import discover

            problems = discover(db).problems
        rows = [_device_json(d) for d in db.scalars(select(Device).order_by(Device.kind,
                                                                           Device.serial))]
    for problem in problems:
        err_console.print(f"[yellow]note:[/] {escape(problem)}")
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table("serial", "state", "kind", "model", "SoC", "ABI", "OS", "last seen (UTC)")
    for row in rows:
        table.add_row(*(escape(str(row[k] or "")) for k in ("serial", "state", "kind", "model",
                                                             "soc", "abi", "os")),
                      f"{row['last_seen']:%Y-%m-%d %H:%M}")
    console.print(table)


@devices_app.command("show")
def show(serial: Annotated[str, typer.Argument(help="the device's serial (see `farm devices list`)")]
         ) -> None:
    """A device's full record: hardware, CPU clusters, OS build, where it was last seen."""
    from orchestrator.cli._common import settings
    from orchestrator.errors import DeviceNotFound
    from orchestrator.schema import Device
    from orchestrator.storage import session_scope

    with session_scope(settings()) as db:
        device = db.scalars(select(Device).where(Device.serial == serial)).one_or_none()
        if device is None:
            raise DeviceNotFound(f"no device {serial!r}",
                                 hint="see `farm devices list` for serials")
        row = _device_json(device)
    console.print_json(json.dumps(row, default=str))


def _device_json(device: Any) -> dict[str, Any]:
    return {key: getattr(device, key) for key in (
        "serial", "state", "kind", "manufacturer", "model", "soc", "abi", "os", "fingerprint", "cpu",
        "ram_mb", "gpu", "host", "info", "first_seen", "last_seen")}


@devices_app.command("fault")
def fault(
    serial: Annotated[str, typer.Argument(help="a virtual phone's adb serial, 127.0.0.1:PORT")],
    spec: Annotated[str, typer.Argument(help="faults to set (or names to clear, or 'all')")],
    clear: Annotated[bool, typer.Option("--clear", help="clear instead of set")] = False,
) -> None:
    """Set or clear faults on a running virtual phone."""
    from workers.virtual_phone.phone import control

    reply = control(serial, f"{'clear' if clear else 'set'} {spec}")
    console.print_json(json.dumps(reply))


@devices_app.command("profiles")
def profiles() -> None:
    """The virtual phone profiles that ship with the farm."""
    from workers.virtual_phone.profile import available_profiles, load_profile

    table = Table("profile", "model", "soc", "abi", "android")
    for name in available_profiles():
        p = load_profile(name)
        props = p.properties()
        table.add_row(
            name, p.model, props["ro.soc.model"], props["ro.product.cpu.abi"],
            f"{props['ro.build.version.release']} (SDK {props['ro.build.version.sdk']})",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(devices_app, name="devices")
