"""``farm nightly --now``: the nightly spec of farm.toml, now (``farm.nightly``).

Exits with status 3 when it confirmed a regression (0 otherwise), so a CI job or a cron line can
act on it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from farm.cli._output import DeviceBars, alerts_listing, console, err_console
from farm.cli._tables import print_listing
from farm.distributed.dispatch import send_nightly
from farm.executors import executor_for
from farm.nightly import NightlyOutcome, follow_nightly, run_nightly
from farm.runs import run_details
from farm.verdict import verdict
from orchestrator.config import load_settings
from orchestrator.errors import ConfigError, ExitCode

app = typer.Typer(add_completion=False)

@app.command("nightly")
def nightly(
    now: Annotated[bool, typer.Option("--now", help="run the nightly now, in this process")] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", help="wait for the outcome (embedded mode always does); with a broker, "
                       "follow the workers and screen here")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Run the nightly spec of farm.toml, screen and confirm regressions, store and post alerts.

    Exit code: 3 a confirmed regression, else 1 when a job of the night's run failed, else 0.
    """
    current = load_settings()
    if not now:
        raise ConfigError("`farm nightly` runs the nightly now; the schedule is `farm beat`'s",
                          hint="run it now with `farm nightly --now`, or start `farm beat`")
    executor = executor_for(current)
    if current.is_embedded:
        outcome = run_nightly(current, executor)  # in this process, to the end: --wait changes nothing
    elif not wait:
        run_id = send_nightly(current, "nightly", datetime.now(UTC).date())
        console.print(f"nightly run [bold]{run_id}[/] handed to the workers; "
                      f"follow it with `farm watch {run_id}`")
        return
    else:
        # In the foreground: submit, follow the workers, then screen and confirm here.
        def on_submitted(run_id: str, created: bool) -> None:
            if not created:
                err_console.print(f"note: tonight's run {run_id} was already submitted; "
                                  "following it")

        with DeviceBars() as bars:
            outcome = follow_nightly(current, datetime.now(UTC).date(), bars.update, on_submitted)
    _print(outcome, as_json)
    if outcome.regressions:
        raise typer.Exit(ExitCode.REGRESSION)
    raise typer.Exit(verdict(run_details(current, outcome.run_id).results).exit_code)


def _print(outcome: NightlyOutcome, as_json: bool) -> None:
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
            print_listing(console, alerts_listing(outcome.alerts))
    if outcome.webhook:
        err_console.print(f"webhook: {escape(outcome.webhook)}")
