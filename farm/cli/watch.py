"""``farm watch RUN``: follow a run until it ends (``farm.runs.watch``)."""

from __future__ import annotations

from typing import Annotated

import typer

from farm.cli._output import DeviceBars, print_verdict
from farm.runs import run_details
from farm.runs import watch as watch_run
from farm.verdict import verdict
from orchestrator.config import load_settings
from orchestrator.errors import ExitCode
from orchestrator.progress import RunProgress

app = typer.Typer(add_completion=False)


@app.command("watch")
def watch(run_id: Annotated[str, typer.Argument(help="run id (or a unique prefix)")]) -> None:
    """Follow a run until it ends, with a progress bar per device.

    Exit code: 0 every job done (or skipped as asked), 1 a job failed or was cancelled, 130 Ctrl-C
    (the run goes on).
    """
    settings = load_settings()
    try:
        with DeviceBars() as bars:
            def each(progress: RunProgress) -> None:
                for device in progress.devices:
                    bars.update(device)

            final = watch_run(settings, run_id, each)
    except KeyboardInterrupt:
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    judged = verdict(run_details(settings, final.run_id).results)
    print_verdict(final.run_id, final.status, judged)
    raise typer.Exit(judged.exit_code)
