"""``farm submit``: plan model x device x config jobs and run them (``farm.submit``).

Embedded mode (no broker): in this process, with a progress bar per device. Distributed mode
(``FARM_BROKER_URL``): planned on the phones live workers registered, one task per device sent to
its queue; the run id is printed at once, and ``--wait`` follows the run from the database.
"""

from __future__ import annotations

from typing import Annotated

import typer

from farm.cli._execution import print_outcome, print_stopped
from farm.cli._output import DeviceBars, console, err_console, print_notes
from farm.cli._tables import Format, FormatOption, WideOption
from farm.executors import executor_for
from farm.submit import Planned
from farm.submit import submit as submit_run
from orchestrator.config import load_settings
from orchestrator.errors import ExitCode
from orchestrator.jobspec import JobSpec
from orchestrator.planning import Submission, parse_delegates, parse_names, parse_threads

app = typer.Typer(add_completion=False)


@app.command("submit")
def submit(
    models: Annotated[str, typer.Option(help="'all' or comma-separated model names")] = "all",
    devices: Annotated[str | None, typer.Option(
        help="'all', 'local', comma-separated serials, or a selector such as "
             "model:\"Pixel 7\",android>=14 (abi, soc, gpu, host, sdk, ram>=8G, ...; see "
             "`farm devices list --select`) [default: local; with a broker: every phone of a "
             "live worker]")] = None,
    threads: Annotated[str, typer.Option(
        help="CPU thread counts, e.g. 1,2,4; auto: 1 and the device's big-core count")] = "auto",
    delegates: Annotated[str, typer.Option(
        help="comma-separated: xnnpack (LiteRT's default CPU path), cpu (builtin kernels without "
             "XNNPACK), gpu, nnapi; or all; auto: xnnpack, plus gpu and nnapi where the device "
             "and its tool can run them")] = "auto",
    repeats: Annotated[int | None, typer.Option(
        help="independent sessions per config [default: 3, or farm.toml]")] = None,
    num_runs: Annotated[int | None, typer.Option(help="minimum measured runs per session")] = None,
    min_secs: Annotated[float | None, typer.Option(help="minimum measured seconds per session")
                        ] = None,
    pin: Annotated[str | None, typer.Option(
        help="'big': pin phone sessions to the big CPU cores with taskset")] = None,
    pool: Annotated[bool, typer.Option(
        "--pool/--each",
        help="--each: every selected device runs every job (to compare devices); --pool: each "
             "job runs once, on whichever selected phone is free, longest first (for throughput; "
             "a phone above the thermal gate leaves the work to cooler ones)")] = False,
    spread_sessions: Annotated[bool, typer.Option(
        help="with --pool: a job's sessions may run on different phones (each becomes a job of "
             "its own, so every result keeps the phone that measured it)")] = False,
    report: Annotated[bool, typer.Option(help="write the HTML report at the end")] = True,
    wait: Annotated[bool, typer.Option(
        help="with a broker: follow the run until it ends (always, without one)")] = False,
    fmt: FormatOption = Format.table,
    wide: WideOption = False,
) -> None:
    """Benchmark models on devices: plan the jobs, run them, print a summary and the report path.

    Exit code: 0 every job done (or skipped as asked), 1 a job failed, 2 bad input or a
    pre-flight problem (nothing written), 130 Ctrl-C. Queued without --wait: 0 once queued.
    """
    # Parse every list before touching the database: bad input writes nothing. The protocol's
    # options are settings given on the command line, checked as every setting is.
    current = load_settings().with_options(repeats=repeats, num_runs=num_runs, min_secs=min_secs)
    executor = executor_for(current)
    # The protocol is frozen into every job: a job records exactly what it measured with.
    submission = Submission(
        models=parse_names(models, "--models"),
        devices=parse_names(devices or ",".join(executor.default_devices), "--devices"),
        threads=None if threads == "auto" else parse_threads(threads),
        delegates=None if delegates == "auto" else parse_delegates(delegates),
        spec=JobSpec.from_settings(current, pin=pin),
        spread="pool" if pool else "each", spread_sessions=spread_sessions)
    planned: list[Planned] = []

    def on_planned(plan: Planned) -> None:
        planned.append(plan)
        print_notes(plan.notes)
        (console if fmt is Format.table else err_console).print(f"run [bold]{plan.run_id}[/]")

    follow = current.is_embedded or wait
    try:
        with DeviceBars(show=follow) as bars:
            outcome = submit_run(current, executor, submission, wait=follow, report=report,
                                 on_planned=on_planned, progress=bars.update)
    except KeyboardInterrupt:
        if not planned:
            raise
        print_stopped(planned[0].run_id, current.is_embedded)
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    if not follow:
        err_console.print(f"queued on {outcome.planned.devices} device(s); follow it with "
                          f"`farm watch {outcome.planned.run_id}`")
        return
    raise typer.Exit(print_outcome(outcome, fmt, wide))
