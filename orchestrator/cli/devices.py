"""``farm devices``: the phones the adb server sees, and virtual phones to try the farm without any.

The device side lives in ``workers.virtual_phone``; it is imported inside each command so that
``farm --help`` stays fast and the orchestrator never loads adbutils unless a command needs it.
"""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["register"]

devices_app = typer.Typer(help="List phones; simulate virtual phones.", no_args_is_help=True)
console = Console()


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
) -> None:
    """Every device the adb server sees, with its state and model."""
    from workers.virtual_phone.adb_host import list_devices

    rows = list_devices()
    if as_json:
        console.print_json(json.dumps([row.__dict__ for row in rows]))
        return
    table = Table("serial", "state", "model")
    for row in rows:
        table.add_row(row.serial, row.state, row.model or "")
    console.print(table)


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
