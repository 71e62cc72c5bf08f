"""``LocalRunner``: this machine through the real host runner (a fresh LiteRT process per
session), and its tool row."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.builtin import build_builtin_models
from models.tflite_file import sha256_file
from orchestrator.config import load_settings
from orchestrator.errors import ModelError
from orchestrator.repository import DeviceRef
from orchestrator.storage import session_scope
from workers.runners import HOST_RUNNER_NAME, LocalRunner, SessionPlan
from workers.tools.benchmark_argv import SessionSpec

LOCAL = DeviceRef(1, "local", "local", "x86_64", "host/Linux", {}, {})


def _plan(model: Path, timeout_s: float = 60.0) -> SessionPlan:
    return SessionPlan(spec=SessionSpec(graph=str(model), num_threads=1, delegate="xnnpack",
                                        num_runs=2, min_secs=0.01, max_secs=5, warmup_runs=1,
                                        warmup_min_secs=0.01), timeout_s=timeout_s)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return build_builtin_models(tmp_path)["builtin-segmenter"]


def test_the_host_runner_is_one_tool_row(db_env: dict[str, str]) -> None:
    runner = LocalRunner(LOCAL)
    with session_scope(load_settings()) as db:
        first = runner.choose_tool(db)
        assert runner.choose_tool(db) == first
    assert first.name == HOST_RUNNER_NAME and "ai-edge-litert" in first.version
    assert len(first.sha256) == 64 and first.abi == "x86_64"


def test_a_session_is_a_fresh_host_runner_process(model: Path) -> None:
    runner = LocalRunner(LOCAL)
    runner.prepare_model(str(model), sha256_file(model), None)  # type: ignore[arg-type]
    raw = runner.run_session(_plan(model))
    assert raw.exit_code == 0 and "Inference timings in us" in raw.output, raw.output
    assert raw.argv[1:3] == ["-m", "workers.tools.host_runner"]
    assert raw.error_kind is None and raw.started_at <= raw.finished_at
    assert {"before", "after", "temp_before_c", "temp_after_c"} <= set(raw.environment)
    assert raw.environment["before"]["load_avg_1m"] >= 0


def test_a_session_over_its_time_is_killed_and_says_so(model: Path) -> None:
    raw = LocalRunner(LOCAL).run_session(_plan(model, timeout_s=0.05))
    assert raw.exit_code is None and raw.error_kind == "timeout"
    assert "longer than 0.05 s" in (raw.error_message or "")


def test_a_changed_model_file_is_refused(model: Path) -> None:
    digest = sha256_file(model)
    model.write_bytes(model.read_bytes()[:-1])
    with pytest.raises(ModelError, match="changed since it was registered"):
        LocalRunner(LOCAL).prepare_model(str(model), digest, None)  # type: ignore[arg-type]
    model.unlink()
    with pytest.raises(ModelError, match="cannot read"):
        LocalRunner(LOCAL).prepare_model(str(model), digest, None)  # type: ignore[arg-type]
