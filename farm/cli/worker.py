"""``farm worker``: this phone host's worker (``farm.distributed.supervisor``)."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer

from farm.cli._distributed import distributed_settings, log_to_stderr
from farm.cli._output import err_console
from farm.distributed.supervisor import Supervisor, worker_name
from orchestrator.planning import parse_names

app = typer.Typer(add_completion=False)


@app.command("worker")
def worker(
    devices: Annotated[str | None, typer.Option(
        help="comma-separated serials this worker owns ('local' = this machine) "
             "(default: every phone its adb server sees)")] = None,
    name: Annotated[str | None, typer.Option(
        help="the name its phones are registered under (default: FARM_WORKER_NAME or the "
             "host name)")] = None,
    control: Annotated[bool, typer.Option(
        help="also consume the control queue (the nightly submission)")] = True,
) -> None:
    """Run this phone host's worker: register its phones, consume their queues, follow hot-plug."""
    current = distributed_settings()
    owned = parse_names(devices, "--devices") if devices is not None else None
    supervisor = Supervisor(current, name or worker_name(current), owned, control)
    stop = threading.Event()

    def on_term(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    log_to_stderr(current)
    err_console.print(f"worker [bold]{supervisor.name}[/]: heartbeat every "
                      f"{current.heartbeat_s:g} s; SIGTERM or Ctrl-C stops it")
    try:
        supervisor.run(stop)
    except KeyboardInterrupt:
        stop.set()
