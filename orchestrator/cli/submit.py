"""``farm submit``: plan model x device x config jobs and run them.

Embedded mode (no broker): in this process, with a progress bar. Distributed mode
(``FARM_BROKER_URL``): planned on the phones live workers registered, one task per device sent to
its queue; the run id is printed at once, and ``--wait`` follows the run from the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestrator.cli._common import console, err_console, fmt_ms, settings
from orchestrator.config import Settings
from orchestrator.errors import FarmError
from orchestrator.executor import ProgressEvent, pending_work, run_embedded
from orchestrator.inventory import ensure_builtin_models, ensure_local_device
from orchestrator.jobspec import JobSpec
from orchestrator.planning import (
    Submission,
    create_run,
    parse_delegates,
    parse_names,
    parse_threads,
)
from orchestrator.queries import ResultRow, get_run, run_results
from orchestrator.storage import session_scope


def report_path(current: Settings, run_id: str) -> Path:
    return current.home_path / "reports" / f"run-{run_id}.html"


def _run_with_progress(current: Settings, run_id: str) -> None:
    work = pending_work(current, run_id)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[job]}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=False) as progress:
        tasks = {serial: progress.add_task(serial, total=sum(r for _, _, r in jobs), job="")
                 for serial, jobs in work.items()}
        counted: dict[str, int] = {}

        def on_event(event: ProgressEvent) -> None:
            # A job that fails early still accounts for all of its planned sessions.
            delta = event.sessions_done - counted.get(event.job_id, 0)
            counted[event.job_id] = event.sessions_done
            progress.update(tasks[event.device], advance=delta, job=event.label)

        run_embedded(current, run_id, progress=on_event)


def _summary_table(rows: Sequence[ResultRow]) -> Table:
    table = Table(title="results (median of sessions; ms)")
    for column in ("device", "model", "config", "status"):
        table.add_column(column)
    for column in ("median", "min-max"):
        table.add_column(column, justify="right")
    table.add_column("note")
    for r in rows:
        message = (r.error_message or "").strip().splitlines()
        note = f"{r.error_kind}: {message[0] if message else ''}" if r.error_kind else ""
        # Errors can be long: a short first line keeps the table readable (`farm results` has all).
        note = note if len(note) <= 40 else note[:39] + "…"
        style = {"failed": "red", "skipped": "yellow"}.get(r.status, "")
        table.add_row(r.device, r.model, r.config, f"[{style}]{r.status}[/]" if style else r.status,
                      fmt_ms(r.value_ms),
                      f"{fmt_ms(r.min_ms)}-{fmt_ms(r.max_ms)}" if r.min_ms is not None else "-",
                      escape(note))
    return table


def submit(
    models: Annotated[str, typer.Option(help="'all' or comma-separated model names")] = "all",
    devices: Annotated[str | None, typer.Option(
        help="'all', 'local' or comma-separated serials (default: local; with a broker: "
             "every phone of a live worker)")] = None,
    threads: Annotated[str, typer.Option(help="CPU thread counts, e.g. 1,2,4")] = "1,4",
    delegates: Annotated[str, typer.Option(
        help="comma-separated: xnnpack (LiteRT's default CPU path), cpu (builtin kernels without "
             "XNNPACK), gpu, nnapi; or all")] = "xnnpack,gpu,nnapi",
    repeats: Annotated[int | None, typer.Option(
        help="independent sessions per config [default: 3, or farm.toml]")] = None,
    num_runs: Annotated[int | None, typer.Option(help="minimum measured runs per session")] = None,
    min_secs: Annotated[float | None, typer.Option(help="minimum measured seconds per session")
                        ] = None,
    pin: Annotated[str | None, typer.Option(
        help="'big': pin phone sessions to the big CPU cores with taskset")] = None,
    report: Annotated[bool, typer.Option(help="write the HTML report at the end")] = True,
    wait: Annotated[bool, typer.Option(
        help="with a broker: follow the run until it ends (always, without one)")] = False,
) -> None:
    """Benchmark models on devices: plan the jobs, run them, print a summary and the report path."""
    # Parse every list before touching the database: bad input writes nothing.
    current = settings()
    default_devices = "local" if current.is_embedded else "all"
    model_names = parse_names(models, "--models")
    device_names = parse_names(devices or default_devices, "--devices")
    thread_counts, delegate_names = parse_threads(threads), parse_delegates(delegates)
    # The protocol is frozen into every job: a job records exactly what it measured with.
    spec = JobSpec.from_settings(current, repeats=repeats, num_runs=num_runs, min_secs=min_secs,
                                 pin=pin)
    submission = Submission(models=model_names, devices=device_names, threads=thread_counts,
                            delegates=delegate_names, spec=spec)
    if not current.is_embedded:
        _submit_distributed(current, submission, wait=wait, report=report)
        return
    with session_scope(current) as db:
        ensure_local_device(db)
        ensure_builtin_models(db, current)
        notes = []
        if set(device_names) - {"local"}:
            # Phones are involved: ask the adb server what is there now.
            from workers.device.discovery import discover

            notes += discover(db).problems
        run, plan_notes = create_run(db, submission)
        notes += plan_notes
        run_id = run.id
    _print_notes(notes)
    console.print(f"run [bold]{run_id}[/]")
    try:
        _run_with_progress(current, run_id)
    except KeyboardInterrupt:
        err_console.print(f"[yellow]stopped[/]: run {run_id} cancelled; finished jobs are kept")
        raise typer.Exit(130) from None
    _print_outcome(current, run_id, report)


def _print_notes(notes: Sequence[str]) -> None:
    shown = notes if len(notes) <= 4 else notes[:3]
    for note in shown:
        err_console.print(f"[yellow]note:[/] {escape(note)}")
    if len(notes) > len(shown):
        err_console.print(f"[yellow]note:[/] ... and {len(notes) - len(shown)} more; "
                          "see `farm models list` and `farm devices list`")


def _submit_distributed(current: Settings, submission: Submission, *, wait: bool,
                        report: bool) -> None:
    from orchestrator.cli._follow import follow_run
    from orchestrator.distributed import cancel_run, heartbeat_max_age, resolve_live
    from workers.dispatch import enqueue_run

    with session_scope(current) as db:
        ensure_builtin_models(db, current)
        devices = resolve_live(db, submission.devices, heartbeat_max_age(current))
        run, notes = create_run(db, replace(submission, devices=devices))
        run_id = run.id
    _print_notes(notes)
    try:
        enqueue_run(current, run_id)
    except FarmError:
        with session_scope(current) as db:  # a run no worker will ever see must not stay queued
            cancel_run(db, run_id)
        raise
    console.print(f"run [bold]{run_id}[/]")
    if not wait:
        err_console.print(f"queued on {len(devices)} device(s); follow it with `farm watch {run_id}`")
        return
    try:
        follow_run(current, run_id)
    except KeyboardInterrupt:
        err_console.print(f"[yellow]stopped following[/]: run {run_id} goes on; "
                          f"`farm watch {run_id}` or `farm cancel {run_id}`")
        raise typer.Exit(130) from None
    _print_outcome(current, run_id, report)


def _print_outcome(current: Settings, run_id: str, report: bool) -> None:
    with session_scope(current) as db:
        summary = get_run(db, run_id)
        rows = run_results(db, run_id)
    console.print(_summary_table(rows))
    console.print(f"run {run_id}: {summary.status}, {summary.done} done, {summary.failed} failed, "
                  f"{summary.skipped} skipped")
    if report:
        from dashboards.data import load_run_report
        from dashboards.report import render_run_report
        from dashboards.site import write_page

        with session_scope(current) as db:
            page = render_run_report(load_run_report(db, run_id))
        console.print(f"report: {write_page(page, report_path(current, run_id))}")


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
