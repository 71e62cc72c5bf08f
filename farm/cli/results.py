"""``farm results RUN``: a run's results, one row per job, as a table, CSV or JSON."""

from __future__ import annotations

from typing import Annotated

import typer

from farm.cli._output import console, results_listing
from farm.cli._tables import Format, FormatOption, WideOption, print_listing
from farm.runs import run_details
from orchestrator.config import load_settings

app = typer.Typer(add_completion=False)


@app.command("results")
def results(
    run_id: Annotated[str, typer.Argument(help="run id (a unique prefix is enough)")],
    fmt: FormatOption = Format.table,
    wide: WideOption = False,
) -> None:
    """A run's results, one row per job, as a table, CSV or JSON (every field)."""
    print_listing(console, results_listing(run_details(load_settings(), run_id).results), fmt,
                  wide=wide)
