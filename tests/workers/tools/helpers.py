"""Shared helpers for the benchmark output parser tests: fixture discovery and JSON comparison."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "benchmark_logs"


def sample_names() -> list[str]:
    return sorted(path.stem for path in FIXTURES.glob("*.txt"))


def sample_text(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")


def expected(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / f"{name}.expected.json").read_text(encoding="utf-8"))


def json_diff(actual: Any, wanted: Any, path: str = "$") -> list[str]:
    """Differences between two JSON values; floats compare with a tolerance, ints exactly."""
    if isinstance(wanted, float):
        ok = isinstance(actual, float) and math.isclose(actual, wanted, rel_tol=1e-9, abs_tol=1e-12)
        return [] if ok else [f"{path}: {actual!r} != {wanted!r}"]
    if isinstance(wanted, dict):
        if not isinstance(actual, dict) or set(actual) != set(wanted):
            keys = sorted(set(actual) ^ set(wanted)) if isinstance(actual, dict) else actual
            return [f"{path}: keys differ: {keys!r}"]
        return [d for key in wanted for d in json_diff(actual[key], wanted[key], f"{path}.{key}")]
    if isinstance(wanted, list):
        if not isinstance(actual, list) or len(actual) != len(wanted):
            return [f"{path}: {actual!r} != {wanted!r}"]
        return [d for i, (a, w) in enumerate(zip(actual, wanted, strict=True))
                for d in json_diff(a, w, f"{path}[{i}]")]
    same = type(actual) is type(wanted) and actual == wanted
    return [] if same else [f"{path}: {actual!r} != {wanted!r}"]


def assert_runs_match(runs: list[Any], wanted: list[dict[str, Any]]) -> None:
    diff = json_diff([run.to_json() for run in runs], wanted)
    assert not diff, "\n".join(diff)
