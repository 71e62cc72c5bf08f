"""``farm runs list|show``: the newest runs, and one run's spec and results."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.text import Text

from farm.cli._output import console, print_verdict, results_listing
from farm.cli._tables import Column, Format, FormatOption, Listing, WideOption, print_listing
from farm.runs import list_runs, run_details
from farm.verdict import verdict
from orchestrator.config import load_settings
from orchestrator.queries import RunSummary

app = typer.Typer(help="List and inspect runs.", no_args_is_help=True, add_completion=False)


def runs_listing(runs: list[RunSummary]) -> Listing:
    columns = (
        Column("run", "id", name=True),
        Column("created (UTC)", "created_at", show=lambda t: f"{t:%Y-%m-%d %H:%M}"),
        Column("trigger", "trigger", drop=1),
        Column("status", "status"),
        *(Column(header, header, justify="right") for header in ("jobs", "done", "failed",
                                                                 "skipped")),
    )
    rows = [{"id": r.id, "created_at": r.created_at, "trigger": r.trigger, "status": r.status,
             "jobs": r.jobs, "done": r.done, "failed": r.failed, "skipped": r.skipped}
            for r in runs]
    return Listing("runs", columns, rows, empty="no runs yet: try `farm submit`")


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(help="newest N runs")] = 20,
    fmt: FormatOption = Format.table,
    wide: WideOption = False,
) -> None:
    """The newest runs with their job counts."""
    print_listing(console, runs_listing(list_runs(load_settings(), limit)), fmt, wide=wide)


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="run id (a unique prefix is enough)")],
    wide: WideOption = False,
) -> None:
    """A run's specification, its results table and its failures grouped by reason."""
    details = run_details(load_settings(), run_id)
    run = details.run
    console.print(f"run [bold]{run.id}[/]: {run.status}, trigger {run.trigger}, created "
                  f"{run.created_at:%Y-%m-%d %H:%M:%S}")
    console.print(Text(f"spec: {json.dumps(run.spec)}"))
    print_listing(console, results_listing(details.results), wide=wide)
    print_verdict(run.id, run.status, verdict(details.results))
