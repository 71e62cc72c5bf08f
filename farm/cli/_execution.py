"""What `farm submit` and `farm resume` print around an executed run: its results and verdict,
and what a Ctrl-C left."""

from __future__ import annotations

from rich.text import Text

from farm.cli._output import console, err_console, print_verdict, results_listing
from farm.cli._tables import Format, print_listing
from farm.submit import SubmitOutcome
from farm.verdict import verdict

__all__ = ["print_outcome", "print_stopped"]


def print_outcome(outcome: SubmitOutcome, fmt: Format, wide: bool) -> int:
    """The results table, the verdict and the report's path; the exit code."""
    summary = outcome.summary
    assert summary is not None
    print_listing(console, results_listing(outcome.results), fmt, wide=wide)
    # CSV / JSON own stdout; the verdict goes beside them, on stderr
    out = console if fmt is Format.table else err_console
    judged = verdict(outcome.results)
    print_verdict(summary.id, summary.status, judged, out)
    if outcome.report:
        out.print(Text(f"report: {outcome.report.path}"))
    return judged.exit_code


def print_stopped(run_id: str, embedded: bool) -> None:
    if embedded:
        err_console.print(f"[yellow]stopped[/]: run {run_id} cancelled; finished jobs are kept; "
                          f"`farm resume {run_id}` measures the rest")
    else:
        err_console.print(f"[yellow]stopped following[/]: run {run_id} goes on; "
                          f"`farm watch {run_id}` or `farm cancel {run_id}`")
