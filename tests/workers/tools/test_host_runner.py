"""The host runner against real models, read back through the farm's own parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from models.builtin import build_builtin_models
from workers.tools.benchmark_argv import SessionSpec, host_runner_argv
from workers.tools.benchmark_output import parse_one
from workers.tools.host_runner import parse_flags


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_builtin_models(tmp_path_factory.mktemp("models"))


def _run(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workers.tools.host_runner", *flags],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("delegate", ["cpu", "xnnpack"])
def test_real_measurements_in_the_tools_format(models: dict[str, Path], delegate: str) -> None:
    spec = SessionSpec(graph=str(models["builtin-segmenter"]), num_threads=2, delegate=delegate,
                       num_runs=5, min_secs=0.05, warmup_runs=2, warmup_min_secs=0.01)
    proc = subprocess.run(host_runner_argv(spec), capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "INFO: Inference timings in us: Init: " in proc.stdout
    parsed = parse_one(proc.stdout)
    assert parsed.status == "ok" and parsed.error is None
    assert parsed.num_threads == 2
    assert parsed.inference_count is not None and parsed.inference_count >= 5
    assert parsed.init_ms is not None and parsed.init_ms > 0
    assert parsed.inference_min_ms is not None and parsed.inference_max_ms is not None
    assert 0 < parsed.inference_min_ms <= parsed.inference_avg_ms <= parsed.inference_max_ms  # type: ignore[operator]
    assert parsed.first_inference_ms is not None and parsed.first_inference_ms > 0
    assert parsed.memory_peak_mb is not None and parsed.memory_peak_mb > 10  # a Python process
    assert parsed.model_size_mb == pytest.approx(models["builtin-segmenter"].stat().st_size / 1e6,
                                                 rel=1e-3)
    if delegate == "xnnpack":
        assert parsed.delegate is not None and parsed.delegate.name == "XNNPACK"
        assert parsed.delegate.coverage == "full"
        assert (parsed.delegate.nodes_delegated, parsed.delegate.nodes_total) == (5, 5)
    else:
        assert "Use xnnpack: [0]" in proc.stdout


def test_min_secs_keeps_running(models: dict[str, Path]) -> None:
    proc = _run(f"--graph={models['builtin-segmenter']}", "--num_runs=1", "--min_secs=0.3",
                "--warmup_min_secs=0")
    parsed = parse_one(proc.stdout)
    # at least 0.3 s of ~ms inferences: far more than the one run asked for
    assert parsed.inference_count is not None and parsed.inference_count > 5


@pytest.mark.parametrize("flags, kind, words", [
    (["--use_nnapi=true"], "delegate_failed", "NNAPI"),
    (["--num_threads=two"], "bad_flags", "num_threads"),
    (["--no_such_flag=1"], "bad_flags", "Unconsumed cmdline flags"),
])
def test_failures_in_the_tools_style(models: dict[str, Path], flags: list[str], kind: str,
                                     words: str) -> None:
    proc = _run(f"--graph={models['builtin-stylizer']}", *flags)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("ERROR: Benchmarking failed.")
    parsed = parse_one(proc.stdout)
    assert parsed.status == "failed"
    assert parsed.error is not None and parsed.error.kind == kind and words in parsed.error.message


def test_gpu_runs_or_fails_cleanly(models: dict[str, Path]) -> None:
    """No GPU here: a clean delegate failure. On a machine with a GPU driver: a real run."""
    proc = _run(f"--graph={models['builtin-segmenter']}", "--use_gpu=true", "--num_runs=2",
                "--min_secs=0")
    assert "Traceback" not in proc.stdout + proc.stderr
    parsed = parse_one(proc.stdout)
    if proc.returncode == 0:
        assert parsed.status == "ok" and parsed.delegate and parsed.delegate.name == "GPU"
    else:
        assert parsed.status == "failed" and parsed.error and parsed.error.kind == "delegate_failed"
        assert "GPU" in parsed.error.message


@pytest.mark.parametrize("content", [None, b"not a model at all", b""])
def test_missing_or_corrupt_model(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "m.tflite"
    if content is not None:
        path.write_bytes(content)
    proc = _run(f"--graph={path}")
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    parsed = parse_one(proc.stdout)
    assert parsed.status == "failed" and parsed.error and parsed.error.kind == "model_load"


def test_parse_flags_forms() -> None:
    flags = parse_flags(["--graph", "m.tflite", "--num_threads=4", "--use_gpu", "--min_secs=0.5"])
    assert (flags.graph, flags.num_threads, flags.use_gpu, flags.min_secs) == ("m.tflite", 4, True,
                                                                               0.5)
    assert parse_flags(["--use_xnnpack=false"]).use_xnnpack is False
    with pytest.raises(ValueError, match="Unconsumed"):
        parse_flags(["stray"])
