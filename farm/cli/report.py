"""``farm report [RUN] [--compare A B]``: a self-contained HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from farm.cli._output import console
from farm.reports import write_compare_report, write_run_report
from orchestrator.config import load_settings
from orchestrator.errors import ConfigError

app = typer.Typer(add_completion=False)


@app.command("report")
def report(
    run_id: Annotated[str | None, typer.Argument(
        help="run id (a unique prefix is enough) [default: the newest run]")] = None,
    compare: Annotated[tuple[str, str] | None, typer.Option(
        "--compare", metavar="RUN_A RUN_B",
        help="compare two runs: change of every series from A to B")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="HTML file to write")
                      ] = None,
) -> None:
    """Write a self-contained HTML report (works offline) of one run, or of two compared."""
    if compare is not None and run_id is not None:
        raise ConfigError("give either a RUN or --compare RUN_A RUN_B, not both",
                          hint="farm report --compare RUN_A RUN_B")
    current = load_settings()
    written = (write_compare_report(current, *compare, output=output) if compare is not None
               else write_run_report(current, run_id, output))
    console.print(f"report: {written.path}")
