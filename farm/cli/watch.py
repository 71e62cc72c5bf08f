"""``farm watch RUN``: follow a run until it ends (``farm.runs.watch``)."""

from __future__ import annotations

from typing import Annotated

import typer

from farm.cli._output import DeviceBars, console
from farm.runs import watch as watch_run
from orchestrator.config import load_settings
from orchestrator.progress import RunProgress

app = typer.Typer(add_completion=False)


@app.command("watch")
def watch(run_id: Annotated[str, typer.Argument(help="run id (or a unique prefix)")]) -> None:
    """Follow a run until it ends, with a progress bar per device."""
    try:
        with DeviceBars() as bars:
            def each(progress: RunProgress) -> None:
                for device in progress.devices:
                    bars.update(device)

            final = watch_run(load_settings(), run_id, each)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    console.print(f"run {final.run_id}: {final.status}")
