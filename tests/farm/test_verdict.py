"""A run's verdict (``farm.verdict``): counts, reasons grouped, the exit code."""

from __future__ import annotations

from farm.verdict import verdict
from orchestrator.errors import ExitCode
from orchestrator.queries import ResultRow


def _row(status: str, kind: str | None = None, message: str | None = None,
         model: str = "m", threads: int = 1) -> ResultRow:
    return ResultRow(job_id=f"{model}{threads}{status}", device="local", device_model=None,
                     model=model, provenance="user", model_sha256="0" * 64, size_mb=1.0,
                     delegate="gpu", threads=threads, status=status, value_ms=None, sessions=1,
                     min_ms=None, max_ms=None, init_ms=None, first_inference_ms=None,
                     memory_peak_mb=None, delegate_coverage=None, error_kind=kind,
                     error_message=message)


GPU = "ERROR: GPU delegate is not available on this machine\nERROR: Failed to apply GPU delegate."


def test_done_and_asked_for_skips_exit_0() -> None:
    judged = verdict([_row("done"), _row("skipped", "unsupported", "NNAPI exists only on Android")])
    assert (judged.done, judged.failed, judged.skipped) == (1, 0, 1)
    assert judged.exit_code == ExitCode.OK
    assert [(r.kind, r.message, r.jobs) for r in judged.skips] == [
        ("unsupported", "NNAPI exists only on Android", 1)]


def test_failures_are_grouped_by_kind_and_first_line_most_frequent_first() -> None:
    rows = [_row("failed", "delegate_failed", GPU, model=m) for m in ("a", "b", "c")]
    rows += [_row("failed", "timeout", "the session ran longer than 600 s", model="d"),
             _row("done", model="e")]
    judged = verdict(rows)
    assert judged.exit_code == ExitCode.FAILED
    assert [(r.kind, r.message, r.jobs) for r in judged.failures] == [
        ("delegate_failed", "ERROR: GPU delegate is not available on this machine", 3),
        ("timeout", "the session ran longer than 600 s", 1)]
    assert judged.failures[0].example == "local / a / gpu x1"


def test_a_cancelled_job_is_not_success() -> None:
    judged = verdict([_row("done"), _row("cancelled", model="x")])
    assert judged.cancelled == 1 and judged.exit_code == ExitCode.FAILED
