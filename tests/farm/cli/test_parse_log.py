"""``farm parse-log``: the table, the pinned ``--json`` contract and a missing file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from farm.cli import app
from farm.cli.parse_log import render_run
from farm.logs import read_log
from orchestrator.errors import FarmError, LogFileError
from tests.workers.tools.helpers import FIXTURES, expected, json_diff
from workers.tools.benchmark_output import parse_one

SAMPLE = "15_legacy_tf1x_average_inference_timings_nnapi_missing"


@pytest.fixture
def cli() -> typer.Typer:
    return app


def test_json_is_exactly_the_expected_list(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["parse-log", str(FIXTURES / f"{SAMPLE}.txt"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert not json_diff(data, expected(SAMPLE))
    assert [sorted(entry) for entry in data] == [sorted(entry) for entry in expected(SAMPLE)]


def test_table_shows_each_invocation(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["parse-log", str(FIXTURES / f"{SAMPLE}.txt")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "invocation 1 of 2" in out and "invocation 2 of 2" in out
    assert "66.768 ms" in out  # inference avg of run 1 (66767.6 us)
    assert "incomplete" in out


def test_table_shows_delegate_error_and_op_profile(cli: typer.Typer) -> None:
    failed = CliRunner().invoke(
        cli, ["parse-log", str(FIXTURES / "04_nnapi_qti-default_failed_to_prepare.txt")]
    )
    assert "delegate_failed" in failed.stdout and "NNAPI" in failed.stdout
    profiled = CliRunner().invoke(
        cli, ["parse-log", str(FIXTURES / "03_nnapi_partial_delegation_op_profiling.txt")]
    )
    assert "op profile" in profiled.stdout and "RESIZE_NEAREST_NEIGHBOR" in profiled.stdout
    assert "coverage partial" in profiled.stdout


def test_log_text_is_printed_verbatim_never_as_markup() -> None:
    run = parse_one((FIXTURES / "03_nnapi_partial_delegation_op_profiling.txt").read_text())
    console = Console(width=200, file=io.StringIO())
    console.print(render_run(run, "03"))
    assert "[model/lambda/resize/ResizeNearestNeighbor]:143" in console.file.getvalue()  # type: ignore[attr-defined]


def test_text_without_benchmark_output_is_an_honest_incomplete_entry(
    cli: typer.Typer, tmp_path: Path
) -> None:
    log = tmp_path / "noise.log"
    log.write_bytes(b"$ ls\nfoo \xff bar\n")
    result = CliRunner().invoke(cli, ["parse-log", str(log), "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)
    assert entry["status"] == "incomplete" and entry["inference_avg_ms"] is None


def test_missing_file_is_a_farm_error_with_a_hint(cli: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["parse-log", str(tmp_path / "nope.log")])
    # The real ``farm`` main() turns this into the message, the hint and exit code 2.
    assert isinstance(result.exception, LogFileError)
    assert isinstance(result.exception, FarmError)
    assert result.exception.exit_code == 2 and result.exception.hint
    assert "nope.log" in result.exception.message


def test_a_folder_is_not_a_log(tmp_path: Path) -> None:
    with pytest.raises(LogFileError) as info:
        read_log(tmp_path)
    assert info.value.exit_code == 2 and info.value.hint
