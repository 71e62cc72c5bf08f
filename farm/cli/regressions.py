"""``farm regressions detect|list|triage``: offline detection, and the stored alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from farm.cli._output import alerts_listing, console
from farm.cli._tables import Column, Format, FormatOption, JsonOption, Listing, WideOption, print_listing
from farm.regressions import detect_csv, list_alerts, triage
from orchestrator.config import load_settings
from orchestrator.regression import Detection
from orchestrator.schema import ALERT_STATES

app = typer.Typer(help="Detect, list and triage performance regressions.", no_args_is_help=True,
                  add_completion=False)


def detections_listing(detections: list[Detection]) -> Listing:
    # series labels are long: the change's sign says the direction (+: slower), the night goes
    # before it
    columns = (Column("series", "series", name=True), Column("night", "night", drop=3),
               Column("direction", "direction", drop=4),
               Column("change", "change_pct", justify="right", show=lambda v: f"{v:+.1f}%"),
               Column("stage", "stage", drop=2), Column("detected on", "detected_on", drop=1))
    rows = [{**d.to_json(), "stage": d.stage, "detected_on": d.detected_on} for d in detections]
    return Listing(f"{len(detections)} change(s)", columns, rows, empty="no changes",
                   export=("series", "night", "direction", "change_pct"))


@app.command("detect")
def detect(
    input_file: Annotated[Path, typer.Option("--input", help="CSV with series,night,value rows "
                                             "(one per session)")],
    as_json: JsonOption = False,
    fmt: FormatOption = Format.table,
    wide: WideOption = False,
) -> None:
    """Run the screen and change-point stages over a CSV history (no confirmation re-runs)."""
    listing = detections_listing(detect_csv(input_file))
    print_listing(console, listing, Format.json if as_json else fmt, wide=wide)


@app.command("list")
def list_command(
    state: Annotated[list[str] | None, typer.Option(
        help=f"only these triage states ({', '.join(ALERT_STATES)}); repeatable")] = None,
    series: Annotated[str | None, typer.Option(help="only series whose label starts with this")
                      ] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 100,
    as_json: JsonOption = False,
    fmt: FormatOption = Format.table,
    wide: WideOption = False,
) -> None:
    """List stored alerts, newest first."""
    alerts = list_alerts(load_settings(), states=tuple(state or ()), series=series, limit=limit)
    print_listing(console, alerts_listing(alerts), Format.json if as_json else fmt, wide=wide)


@app.command("triage")
def triage_command(
    alert_id: Annotated[int, typer.Argument(help="alert id (see `farm regressions list`)")],
    state: Annotated[str, typer.Argument(help=", ".join(ALERT_STATES))],
) -> None:
    """Set an alert's triage state."""
    alert = triage(load_settings(), alert_id, state)
    console.print(f"alert {alert.id}: {alert.state}")
