"""Reading results: ``farm runs list|show``, ``farm results`` (reports: ``orchestrator.cli.reports``)."""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from orchestrator.cli._common import console, settings
from orchestrator.cli.submit import _summary_table
from orchestrator.queries import get_run, list_runs, run_results
from orchestrator.storage import session_scope

runs_app = typer.Typer(help="List and inspect runs.", no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@runs_app.command("list")
def list_(limit: Annotated[int, typer.Option(help="newest N runs")] = 20) -> None:
    """The newest runs with their job counts."""
    with session_scope(settings()) as db:
        runs = list_runs(db, limit)
    table = Table(title="runs")
    for column in ("run", "created (UTC)", "trigger", "status", "jobs", "done", "failed",
                   "skipped"):
        table.add_column(column)
    for r in runs:
        table.add_row(r.id, r.created_at.strftime("%Y-%m-%d %H:%M:%S"), r.trigger, r.status,
                      str(r.jobs), str(r.done), str(r.failed), str(r.skipped))
    console.print(table if runs else "no runs yet: try `farm submit`")


@runs_app.command("show")
def show(run_id: Annotated[str, typer.Argument(help="run id (a unique prefix is enough)")]) -> None:
    """A run's specification and its results table."""
    with session_scope(settings()) as db:
        run = get_run(db, run_id)
        rows = run_results(db, run.id)
    console.print(f"run [bold]{run.id}[/]: {run.status}, trigger {run.trigger}, created "
                  f"{run.created_at:%Y-%m-%d %H:%M:%S}")
    console.print(f"spec: {json.dumps(run.spec)}")
    console.print(_summary_table(rows))


def results(
    run_id: Annotated[str, typer.Argument(help="run id (a unique prefix is enough)")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="output format")] = Format.table,
) -> None:
    """A run's results, one row per job, as a table, CSV or JSON."""
    with session_scope(settings()) as db:
        run = get_run(db, run_id)
        rows = run_results(db, run.id)
    if fmt is Format.table:
        console.print(_summary_table(rows))
    elif fmt is Format.json:
        typer.echo(json.dumps([r.to_json() for r in rows], indent=2))
    else:
        buffer = io.StringIO()
        fields = list(rows[0].to_json()) if rows else ["job_id"]
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        for r in rows:
            writer.writerow(r.to_json())
        typer.echo(buffer.getvalue(), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
    app.command("results")(results)
