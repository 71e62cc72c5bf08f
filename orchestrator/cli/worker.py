"""The distributed farm's commands: ``farm worker``, ``farm beat``, ``farm watch``, ``farm cancel``."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.cli._common import console, err_console, settings
from orchestrator.config import Settings
from orchestrator.errors import ConfigError
from orchestrator.planning import parse_names
from orchestrator.queries import get_run
from orchestrator.storage import session_scope


def _distributed() -> Settings:
    current = settings()
    if current.is_embedded:
        raise ConfigError("no broker is configured: this command belongs to the distributed mode",
                          hint="set FARM_BROKER_URL (e.g. redis://HOST:6379/0) and "
                               "FARM_DATABASE_URL (postgresql+psycopg://...)")
    return current


def _logging() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


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
    from workers.supervisor import Supervisor, worker_name

    current = _distributed()
    owned = parse_names(devices, "--devices") if devices is not None else None
    supervisor = Supervisor(current, name or worker_name(current), owned, control)
    stop = threading.Event()

    def on_term(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    _logging()
    err_console.print(f"worker [bold]{supervisor.name}[/]: heartbeat every "
                      f"{current.heartbeat_s:g} s; SIGTERM or Ctrl-C stops it")
    try:
        supervisor.run(stop)
    except KeyboardInterrupt:
        stop.set()


def beat(
    schedule: Annotated[str, typer.Option(help="the schedule's name (part of its run ids)")
                        ] = "nightly",
    state: Annotated[Path | None, typer.Option(
        help="beat's state file (default: FARM_HOME/celerybeat-SCHEDULE)")] = None,
) -> None:
    """Run the nightly schedule (the nightly cron of farm.toml, in UTC) with Celery beat."""
    from workers.celery_app import beat_schedule, celery_app

    current = _distributed()
    app = celery_app(current)
    app.conf.beat_schedule = beat_schedule(current, schedule)
    state = state or current.home_path / f"celerybeat-{schedule}"
    state.parent.mkdir(parents=True, exist_ok=True)
    _logging()
    err_console.print(f"beat: {schedule} at '{current.nightly_cron}' (UTC)")
    app.Beat(schedule=str(state), loglevel="INFO").run()


def watch(run_id: Annotated[str, typer.Argument(help="run id (or a unique prefix)")]) -> None:
    """Follow a run until it ends, with a progress bar per device."""
    from orchestrator.cli._follow import follow_run

    current = settings()
    with session_scope(current) as db:
        run_id = get_run(db, run_id).id
    try:
        final = follow_run(current, run_id)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    console.print(f"run {run_id}: {final.status}")


def cancel(run_id: Annotated[str, typer.Argument(help="run id (or a unique prefix)")]) -> None:
    """Cancel a run: its unfinished jobs become cancelled, its queued tasks are revoked; a device in
    the middle of a session finishes that session and stops."""
    from orchestrator.distributed import cancel_run

    current = settings()
    with session_scope(current) as db:
        run_id = get_run(db, run_id).id
        task_ids = cancel_run(db, run_id)
    if not current.is_embedded:
        from workers.dispatch import revoke

        revoke(current, task_ids)
    console.print(f"run {run_id}: cancelled")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("beat")(beat)
    app.command("watch")(watch)
    app.command("cancel")(cancel)
