"""``farm regressions detect|list|triage``: offline detection, and the stored alerts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from farm.cli._output import alerts_table, console
from farm.regressions import detect_csv, list_alerts, triage
from orchestrator.config import load_settings
from orchestrator.schema import ALERT_STATES

app = typer.Typer(help="Detect, list and triage performance regressions.", no_args_is_help=True,
                  add_completion=False)


@app.command("detect")
def detect(
    input_file: Annotated[Path, typer.Option("--input", help="CSV with series,night,value rows "
                                             "(one per session)")],
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list")] = False,
) -> None:
    """Run the screen and change-point stages over a CSV history (no confirmation re-runs)."""
    detections = detect_csv(input_file)
    if as_json:
        console.print_json(json.dumps([d.to_json() for d in detections]))
        return
    table = Table(title=f"{len(detections)} change(s)")
    for column in ("series", "night", "direction", "change", "stage", "detected on"):
        table.add_column(column)
    for d in detections:
        table.add_row(escape(d.series), str(d.night), d.direction, f"{d.change_pct:+.1f}%", d.stage,
                      str(d.detected_on))
    console.print(table)


@app.command("list")
def list_command(
    state: Annotated[list[str] | None, typer.Option(
        help=f"only these triage states ({', '.join(ALERT_STATES)}); repeatable")] = None,
    series: Annotated[str | None, typer.Option(help="only series whose label starts with this")
                      ] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list")] = False,
) -> None:
    """List stored alerts, newest first."""
    alerts = list_alerts(load_settings(), states=tuple(state or ()), series=series, limit=limit)
    if as_json:
        console.print_json(json.dumps([a.to_json() for a in alerts]))
    elif alerts:
        console.print(alerts_table(alerts))
    else:
        console.print("no alerts")


@app.command("triage")
def triage_command(
    alert_id: Annotated[int, typer.Argument(help="alert id (see `farm regressions list`)")],
    state: Annotated[str, typer.Argument(help=", ".join(ALERT_STATES))],
) -> None:
    """Set an alert's triage state."""
    alert = triage(load_settings(), alert_id, state)
    console.print(f"alert {alert.id}: {alert.state}")
