"""Every real sample beside its hand-written expected JSON (tests/fixtures/benchmark_logs)."""

from __future__ import annotations

import json

import pytest

from tests.workers.tools.helpers import (
    FIXTURES,
    assert_runs_match,
    expected,
    json_diff,
    sample_names,
    sample_text,
)
from workers.tools.benchmark_output import parse_output


def test_every_sample_has_an_expectation() -> None:
    shared = {path.name for path in FIXTURES.glob("*.txt")}
    assert len(shared) >= 13
    for name in shared:
        assert (FIXTURES / name.replace(".txt", ".expected.json")).is_file(), name


@pytest.mark.parametrize("name", sample_names())
def test_golden(name: str) -> None:
    assert_runs_match(parse_output(sample_text(name)), expected(name))


@pytest.mark.parametrize("name", sample_names())
def test_json_round_trips(name: str) -> None:
    runs = [run.to_json() for run in parse_output(sample_text(name))]
    assert json.loads(json.dumps(runs)) == runs


def test_comparison_catches_a_wrong_number() -> None:
    # Guards the helper itself: a tolerance too loose would make every golden test pass.
    wanted = expected("17_desktop_x86_tf213_info_prefix_no_xnnpack_quant")
    wrong = json.loads(json.dumps(wanted))
    wrong[0]["inference_avg_ms"] = 116.0661
    assert json_diff(wanted, wrong)
    wrong = json.loads(json.dumps(wanted))
    wrong[0]["inference_count"] = 50.0
    assert json_diff(wanted, wrong)
