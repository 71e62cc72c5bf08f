"""What the CLI modules share: the consoles, number formats, the results and alerts tables, notes,
and the per-device progress bars (the same for an embedded run and a followed distributed one)."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestrator.alerts import AlertView
from orchestrator.progress import DeviceProgress
from orchestrator.queries import ResultRow

__all__ = ["DeviceBars", "alerts_table", "console", "err_console", "fmt_ms", "print_notes",
           "results_table"]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def results_table(rows: Sequence[ResultRow]) -> Table:
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


def alerts_table(alerts: list[AlertView]) -> Table:
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
                   TextColumn("{task.fields[job]}"), TimeElapsedColumn())
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
