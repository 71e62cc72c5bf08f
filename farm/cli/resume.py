"""``farm resume RUN``: take up a stopped embedded run and measure only what is missing
(``farm.resume``)."""

from __future__ import annotations

from typing import Annotated

import typer

from farm.cli._execution import print_outcome, print_stopped
from farm.cli._output import DeviceBars, console, err_console, print_notes
from farm.cli._tables import Format, FormatOption, WideOption
from farm.executors import executor_for
from farm.resume import resume as resume_run
from farm.submit import Planned
from orchestrator.config import load_settings
from orchestrator.errors import ExitCode

app = typer.Typer(add_completion=False)


@app.command("resume")
def resume(
    run_id: Annotated[str, typer.Argument(help="run id (a unique prefix is enough)")],
    report: Annotated[bool, typer.Option(help="write the HTML report at the end")] = True,
    fmt: FormatOption = Format.table,
    wide: WideOption = False,
) -> None:
    """Take up a run that stopped with work left (Ctrl-C, or its `farm` process was killed):
    measure only its missing sessions, keeping every one already stored; then print the summary
    and the report path, as `farm submit` does.

    Exit code: as `farm submit` (0 every job done or skipped as asked, 1 a job failed, 2 the run
    cannot be resumed: still running, nothing left, or a broker is configured, 130 Ctrl-C).
    """
    settings = load_settings()
    planned: list[Planned] = []

    def on_planned(plan: Planned) -> None:
        planned.append(plan)
        print_notes(plan.notes)
        (console if fmt is Format.table else err_console).print(f"run [bold]{plan.run_id}[/]")

    try:
        with DeviceBars() as bars:
            outcome = resume_run(settings, executor_for(settings), run_id, report=report,
                                 on_planned=on_planned, progress=bars.update)
    except KeyboardInterrupt:
        if not planned:
            raise
        print_stopped(planned[0].run_id, embedded=True)
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    raise typer.Exit(print_outcome(outcome, fmt, wide))
