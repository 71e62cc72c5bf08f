"""What the CLI modules share: the consoles, number formats, the results and alerts listings, a
run's verdict, notes, and the per-device progress bars (the same for an embedded run and a
followed distributed one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from farm.cli._tables import Column, Listing
from orchestrator.queries import ResultRow

if TYPE_CHECKING:
    # types only: orchestrator.alerts pulls in scipy.stats (0.6 s), which `farm submit` never needs
    from farm.verdict import Verdict
    from orchestrator.alerts import AlertView
    from orchestrator.progress import DeviceProgress

__all__ = ["DeviceBars", "alerts_listing", "console", "err_console", "fmt_ms", "print_notes",
           "print_verdict", "results_listing"]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _status_style(status: Any) -> str:
    return {"failed": "red", "skipped": "yellow", "cancelled": "yellow",
            "moved": "blue"}.get(str(status), "")


def _note(row: ResultRow) -> str:
    message = (row.error_message or "").strip().splitlines()
    return f"{row.error_kind}: {message[0] if message else ''}" if row.error_kind else ""


def results_listing(rows: Sequence[ResultRow]) -> Listing:
    """One row per job; CSV / JSON carry every field of ``ResultRow``."""
    columns = (
        Column("device", "device", name=True, hoist=True),
        Column("model", "model", name=True),
        Column("config", "config", name=True),
        Column("status", "status", drop=3, style=_status_style),
        # a job without a median shows its status here, so dropping "status" hides nothing
        Column("median", "median", justify="right", style=_status_style),
        Column("min-max", "range", justify="right", drop=2),
        Column("note", "note", drop=1),
    )
    records = [{**r.to_json(), "config": r.config, "note": _note(r),
                "median": fmt_ms(r.value_ms) if r.value_ms is not None else r.status,
                "range": f"{fmt_ms(r.min_ms)}-{fmt_ms(r.max_ms)}" if r.min_ms is not None
                else None} for r in rows]
    return Listing("results (median of sessions; ms)", columns, records, empty="no jobs",
                   export=tuple(f.name for f in fields(ResultRow)))


def alerts_listing(alerts: Sequence[AlertView]) -> Listing:
    columns = (
        Column("id", "id", name=True),
        Column("state", "state", drop=4),
        # the change's sign says the direction too (+: slower): dropped before any number
        Column("direction", "direction", drop=6,
               style=lambda d: "red" if d == "regression" else "green"),
        Column("night", "night", drop=3),
        Column("model", "model_shown", name=True),
        Column("device", "device", name=True, hoist=True),
        Column("config", "config", name=True),
        Column("baseline ms", "baseline_median_ms", justify="right", drop=2,
               show=lambda v: f"{v:.3f}"),
        Column("new ms", "new_median_ms", justify="right", drop=5, show=lambda v: f"{v:.3f}"),
        Column("change", "change_pct", justify="right", show=lambda v: f"{v:+.1f}%"),
        Column("p", "p_value", justify="right", drop=1, show=lambda v: f"{v:.1g}"),
    )
    records = [a.to_json() for a in alerts]
    # the table names a series without a registered model by its label
    shown = [{**r, "model_shown": r["model"] or r["series"]} for r in records]
    return Listing("alerts", columns, shown, empty="no alerts",
                   export=tuple(records[0]) if records else ())


def print_verdict(run_id: str, status: str, verdict: Verdict, out: Console | None = None) -> None:
    """The run's counts, then its failures and skips grouped by reason (one line per reason)."""
    out = out or console
    out.print(Text(f"run {run_id}: {status}, {verdict.done} done, {verdict.failed} failed, "
                       f"{verdict.skipped} skipped"
                       + (f", {verdict.cancelled} cancelled" if verdict.cancelled else "")))
    for label, style, reasons in (("failed", "red", verdict.failures),
                                  ("skipped as asked", "yellow", verdict.skips)):
        for reason in reasons:
            line = Text(f"  {label}: ", style=style)
            line.append(f"{reason.jobs} job(s), {reason.kind}: {reason.message}")
            line.append(f" (e.g. {reason.example})", style="dim")
            out.print(line)
    if verdict.failed:
        out.print(Text(f"details: `farm results {run_id}`; exit code 1 (a job failed)"))


def print_notes(notes: Sequence[str]) -> None:
    shown = notes if len(notes) <= 4 else notes[:3]
    for note in shown:
        err_console.print(f"[yellow]note:[/] {escape(note)}")
    if len(notes) > len(shown):
        err_console.print(f"[yellow]note:[/] ... and {len(notes) - len(shown)} more; "
                          "see `farm models list` and `farm devices list`")


class DeviceBars:
    """``with DeviceBars() as bars: ... bars.update(device_progress)``: a bar per device, on
    stderr, created the first time the device reports (``show=False``: nothing at all)."""

    def __init__(self, show: bool = True) -> None:
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[job]}"), TimeElapsedColumn(), TextColumn("eta"),
                   TimeRemainingColumn())
        self._progress = Progress(*columns, console=err_console, transient=False, disable=not show)
        self._bars: dict[str, TaskID] = {}

    def __enter__(self) -> DeviceBars:
        self._progress.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def update(self, device: DeviceProgress) -> None:
        if device.serial not in self._bars:
            label = f"{device.serial} ({device.host})" if device.host else device.serial
            self._bars[device.serial] = self._progress.add_task(
                escape(label), total=device.sessions_total, job="")
        self._progress.update(self._bars[device.serial], completed=device.sessions_done,
                              total=device.sessions_total, job=escape(device.current))
