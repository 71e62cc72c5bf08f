"""``farm runs list|show``: the newest runs, and one run's spec and results."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from farm.cli._output import console, results_table
from farm.runs import list_runs, run_details
from orchestrator.config import load_settings

app = typer.Typer(help="List and inspect runs.", no_args_is_help=True, add_completion=False)


@app.command("list")
def list_(limit: Annotated[int, typer.Option(help="newest N runs")] = 20) -> None:
    """The newest runs with their job counts."""
    runs = list_runs(load_settings(), limit)
    table = Table(title="runs")
    for column in ("run", "created (UTC)", "trigger", "status", "jobs", "done", "failed",
                   "skipped"):
        table.add_column(column)
    for r in runs:
        table.add_row(r.id, r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.trigger, r.status,
                      str(r.jobs), str(r.done), str(r.failed), str(r.skipped))
    console.print(table if runs else "no runs yet: try `farm submit`")


@app.command("show")
def show(run_id: Annotated[str, typer.Argument(help="run id (a unique prefix is enough)")]) -> None:
    """A run's specification and its results table."""
    details = run_details(load_settings(), run_id)
    run = details.run
    console.print(f"run [bold]{run.id}[/]: {run.status}, trigger {run.trigger}, created "
                  f"{run.created_at:%Y-%m-%d %H:%M:%S}")
    console.print(f"spec: {json.dumps(run.spec)}")
    console.print(results_table(details.results))
