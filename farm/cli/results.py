"""``farm results RUN``: a run's results, one row per job, as a table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from typing import Annotated

import typer

from farm.cli._output import console, results_table
from farm.runs import run_details
from orchestrator.config import load_settings

app = typer.Typer(add_completion=False)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command("results")
def results(
    run_id: Annotated[str, typer.Argument(help="run id (a unique prefix is enough)")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="output format")] = Format.table,
) -> None:
    """A run's results, one row per job, as a table, CSV or JSON."""
    rows = run_details(load_settings(), run_id).results
    if fmt is Format.table:
        console.print(results_table(rows))
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
