"""How a raw session becomes a stored one: the parse, corrected by what only the runner knows."""

from __future__ import annotations

from datetime import UTC, datetime

from workers.runners import RawSession
from workers.service import session_values

NOW = datetime.now(UTC)


def _raw(output: str, code: int | None, error_kind: str | None = None) -> RawSession:
    return RawSession(argv=["bm"], output=output, exit_code=code, started_at=NOW, finished_at=NOW,
                      error_kind=error_kind, error_message="killed" if error_kind else None)


def _host_runner_ok() -> str:
    from tests.workers.tools.helpers import FIXTURES

    return next(FIXTURES.glob("90_*.txt")).read_text()


def test_ok_run_keeps_the_parse() -> None:
    values = session_values(_raw(_host_runner_ok(), 0))
    assert values["status"] == "ok" and values["error_kind"] is None
    assert values["inference_avg_ms"] is not None


def test_exit_status_after_summary_is_a_crash() -> None:
    values = session_values(_raw(_host_runner_ok(), 139))
    assert values["status"] == "failed" and values["error_kind"] == "crash"
    assert values["inference_avg_ms"] is not None  # what was measured is kept


def test_timeout_mid_run() -> None:
    cut = "\n".join(_host_runner_ok().splitlines()[:12])
    values = session_values(_raw(cut, None, "timeout"))
    assert values["status"] == "incomplete" and values["error_kind"] == "timeout"


def test_output_that_just_stops() -> None:
    cut = "\n".join(_host_runner_ok().splitlines()[:12])
    crashed = session_values(_raw(cut, 1))
    assert crashed["status"] == "incomplete" and crashed["error_kind"] == "crash"
    assert "status 1" in str(crashed["error_message"])
    silent = session_values(_raw(cut, 0))
    assert silent["error_kind"] == "unknown" and "ended before" in str(silent["error_message"])
