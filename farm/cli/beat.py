"""``farm beat``: the nightly schedule (``farm.distributed.beat``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from farm.cli._distributed import distributed_settings, log_to_stderr
from farm.cli._output import err_console
from farm.distributed.beat import make_beat

app = typer.Typer(add_completion=False)


@app.command("beat")
def beat(
    schedule: Annotated[str, typer.Option(help="the schedule's name (part of its run ids)")
                        ] = "nightly",
    state: Annotated[Path | None, typer.Option(
        help="beat's state file (default: FARM_HOME/celerybeat-SCHEDULE)")] = None,
) -> None:
    """Run the nightly schedule (the nightly cron of farm.toml, in UTC) with Celery beat."""
    current = distributed_settings()
    service = make_beat(current, schedule, state)
    log_to_stderr(current)
    err_console.print(f"beat: {schedule} at '{current.nightly_cron}' (UTC)")
    service.run()
