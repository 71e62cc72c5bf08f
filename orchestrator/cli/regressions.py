"""``farm regressions detect|list|triage`` and ``farm nightly``: regression detection commands.

``farm nightly --now`` exits with status 3 when it confirmed a regression (0 otherwise), so a CI job
or a cron line can act on it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from orchestrator.alerts import AlertView, list_alerts, triage
from orchestrator.cli._common import console, err_console, settings
from orchestrator.cli._follow import follow_run
from orchestrator.errors import ConfigError
from orchestrator.nightly import evaluate_night, run_nightly
from orchestrator.regression import DetectorParams, detect_history
from orchestrator.schema import ALERT_STATES
from orchestrator.series import read_csv
from orchestrator.storage import session_scope

#: exit status of ``farm nightly`` when a confirmed regression exists
REGRESSION_EXIT_CODE = 3

regressions_app = typer.Typer(help="Detect, list and triage performance regressions.",
                              no_args_is_help=True)


def _alerts_table(alerts: list[AlertView]) -> Table:
    table = Table(title="alerts")
    for column in ("id", "state", "direction", "night", "model", "device", "config"):
        table.add_column(column)
    for column in ("baseline ms", "new ms", "change", "p"):
        table.add_column(column, justify="right")
    for a in alerts:
        style = "red" if a.direction == "regression" else "green"
        table.add_row(str(a.id), a.state, f"[{style}]{a.direction}[/]", a.night.isoformat(),
                      escape(a.model_name or a.series), escape(a.device), a.config,
                      f"{a.baseline_median_ms:.3f}", f"{a.new_median_ms:.3f}",
                      f"{a.change_pct:+.1f}%", f"{a.p_value:.1g}")
    return table


@regressions_app.command("detect")
def detect(
    input_file: Annotated[Path, typer.Option("--input", help="CSV with series,night,value rows "
                                             "(one per session)")],
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list")] = False,
) -> None:
    """Run the screen and change-point stages over a CSV history (no confirmation re-runs)."""
    detections = detect_history(read_csv(input_file), DetectorParams())
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


@regressions_app.command("list")
def list_command(
    state: Annotated[list[str] | None, typer.Option(
        help=f"only these triage states ({', '.join(ALERT_STATES)}); repeatable")] = None,
    series: Annotated[str | None, typer.Option(help="only series whose label starts with this")
                      ] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list")] = False,
) -> None:
    """List stored alerts, newest first."""
    with session_scope(settings()) as db:
        alerts = list_alerts(db, states=tuple(state or ()), series=series, limit=limit)
    if as_json:
        console.print_json(json.dumps([a.to_json() for a in alerts]))
    elif alerts:
        console.print(_alerts_table(alerts))
    else:
        console.print("no alerts")


@regressions_app.command("triage")
def triage_command(
    alert_id: Annotated[int, typer.Argument(help="alert id (see `farm regressions list`)")],
    state: Annotated[str, typer.Argument(help=", ".join(ALERT_STATES))],
) -> None:
    """Set an alert's triage state."""
    with session_scope(settings()) as db:
        alert = triage(db, alert_id, state)
    console.print(f"alert {alert.id}: {alert.state}")


def nightly(
    now: Annotated[bool, typer.Option("--now", help="run the nightly now, in this process")] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", help="wait for the outcome (embedded mode always does); with a broker, "
                       "follow the workers and screen here")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Run the nightly spec of farm.toml, screen and confirm regressions, store and post alerts.

    Exits with status 3 when a confirmed regression exists.
    """
    current = settings()
    if not now:
        raise ConfigError("`farm nightly` runs the nightly now; the schedule is `farm beat`'s",
                          hint="run it now with `farm nightly --now`, or start `farm beat`")
    if current.is_embedded:
        outcome = run_nightly(current)  # in this process, to the end: --wait changes nothing
    else:
        from workers.dispatch import run_distributed, send_nightly, submit_nightly

        night = datetime.now(UTC).date()
        if not wait:
            run_id = send_nightly(current, "nightly", night)
            console.print(f"nightly run [bold]{run_id}[/] handed to the workers; "
                          f"follow it with `farm watch {run_id}`")
            return
        # In the foreground: submit, follow the workers, then screen and confirm here.
        run_id, created = submit_nightly(current, "nightly", night)
        if not created:
            err_console.print(f"note: tonight's run {run_id} was already submitted; following it")
        follow_run(current, run_id)
        outcome = evaluate_night(current, run_id, DetectorParams(), execute=run_distributed)
    if as_json:
        console.print_json(json.dumps(outcome.to_json(), default=str))
    else:
        console.print(f"nightly run [bold]{outcome.run_id}[/] ({outcome.night}): "
                      f"{len(outcome.screens)} series, {outcome.count('tested')} tested, "
                      f"{outcome.count('warming_up')} warming up, "
                      f"{outcome.count('too_noisy')} too noisy to gate")
        for result in outcome.suspects:
            verdict = "confirmed" if result.confirmation.confirmed else "not confirmed"
            console.print(f"suspect {escape(result.series)}: {result.suspect.direction} "
                          f"{100 * result.suspect.change:+.1f}% ({result.suspect.stage}), {verdict} "
                          f"on {result.batches} re-run batches")
        if outcome.alerts:
            console.print(_alerts_table(outcome.alerts))
    if outcome.webhook:
        err_console.print(f"webhook: {escape(outcome.webhook)}")
    if outcome.regressions:
        raise typer.Exit(REGRESSION_EXIT_CODE)


def register(app: typer.Typer) -> None:
    app.add_typer(regressions_app, name="regressions")
    app.command("nightly")(nightly)
