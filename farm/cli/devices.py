"""``farm devices``: the phones the adb server sees, and virtual phones to try the farm without any.

``list`` and ``show`` read the device records (``farm.devices``); ``simulate``, ``fault`` and
``profiles`` drive the virtual phones (``workers.virtual_phone``).
"""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from farm.cli._output import console, err_console
from farm.cli._tables import Column, Format, FormatOption, JsonOption, Listing, WideOption, print_listing
from farm.devices import DEVICE_FIELDS, list_devices, show_device
from farm.tools import ensure_host_runner
from orchestrator.config import load_settings
from orchestrator.errors import DeviceError
from workers.runners import HOST_RUNNER_NAME
from workers.virtual_phone.fleet import start_fleet
from workers.virtual_phone.phone import control
from workers.virtual_phone.profile import available_profiles, load_profile

__all__ = ["app"]

app = typer.Typer(help="List and inspect devices; simulate virtual phones.", no_args_is_help=True,
                  add_completion=False)


@app.command("simulate")
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
    """Start N virtual phones, connect them to the adb server, run until Ctrl-C or SIGTERM.

    Registers this host's LiteRT runner as the benchmark tool of the phones' ABI when that ABI
    has none (virtual phones run it behind their adb shell), and says so.
    """
    abi = load_profile(profile).properties()["ro.product.cpu.abi"]
    tool, registered = ensure_host_runner(load_settings(), abi)
    if registered:
        err_console.print(f"registered the host runner as the benchmark tool for {abi} "
                          f"(virtual phones run it): {tool.path}")
    elif tool.name != HOST_RUNNER_NAME:
        err_console.print(Text(f"note: {abi} phones run {tool.name} {tool.version}, which a "
                               "virtual phone cannot; for virtual phones register the host "
                               f"runner: `farm tools add --host-runner --abi {abi}`"))
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
                raise DeviceError(
                    f"virtual phone {dead[0].serial} exited",
                    hint=f"its log was in {dead[0].workdir / 'server.log'}",
                )
    finally:
        fleet.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def devices_listing(rows: list[dict[str, Any]]) -> Listing:
    columns = (
        Column("serial", "serial", name=True),
        Column("state", "state"),
        Column("kind", "kind", drop=5),
        Column("model", "model"),
        Column("SoC", "soc", drop=1),
        Column("ABI", "abi", drop=4),
        Column("OS", "os", drop=2),
        Column("last seen (UTC)", "last_seen", drop=3, show=lambda t: f"{t:%Y-%m-%d %H:%M}"),
    )
    return Listing("devices", columns, rows, empty="no device matches", export=DEVICE_FIELDS)


@app.command("list")
def list_(
    as_json: JsonOption = False,
    scan: Annotated[bool, typer.Option(help="ask the adb server first (else: the last known)")
                    ] = True,
    select: Annotated[str | None, typer.Option(
        help='only the devices a selector matches, e.g. model:"Pixel 7",android>=14 (the same as '
             "`farm submit --devices`)")] = None,
    fmt: FormatOption = Format.table,
    wide: WideOption = False,
) -> None:
    """This machine (local) and every phone the adb server sees, with state and record."""
    rows, problems = list_devices(load_settings(), scan, select)
    for problem in problems:
        err_console.print(f"[yellow]note:[/] {escape(problem)}")
    print_listing(console, devices_listing(rows), Format.json if as_json else fmt, wide=wide)


@app.command("show")
def show(serial: Annotated[str, typer.Argument(help="the device's serial (see `farm devices list`)")]
         ) -> None:
    """A device's full record: hardware, CPU clusters, OS build, where it was last seen."""
    console.print_json(json.dumps(show_device(load_settings(), serial), default=str))


@app.command("fault")
def fault(
    serial: Annotated[str, typer.Argument(help="a virtual phone's adb serial, 127.0.0.1:PORT")],
    spec: Annotated[str, typer.Argument(help="faults to set (or names to clear, or 'all')")],
    clear: Annotated[bool, typer.Option("--clear", help="clear instead of set")] = False,
) -> None:
    """Set or clear faults on a running virtual phone."""
    reply = control(serial, f"{'clear' if clear else 'set'} {spec}")
    console.print_json(json.dumps(reply))


def profiles_listing() -> Listing:
    rows = []
    for name in available_profiles():
        p = load_profile(name)
        props = p.properties()
        rows.append({"profile": name, "model": p.model, "soc": props["ro.soc.model"],
                     "abi": props["ro.product.cpu.abi"],
                     "android": f"{props['ro.build.version.release']} "
                                f"(SDK {props['ro.build.version.sdk']})"})
    columns = (Column("profile", "profile", name=True), Column("model", "model", name=True),
               Column("soc", "soc"), Column("abi", "abi", drop=1), Column("android", "android"))
    return Listing("virtual phone profiles", columns, rows)


@app.command("profiles")
def profiles(fmt: FormatOption = Format.table, wide: WideOption = False) -> None:
    """The virtual phone profiles that ship with the farm."""
    print_listing(console, profiles_listing(), fmt, wide=wide)
