"""Every table the CLI prints reads at 80 columns: names whole on one line, rows one line each."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from farm.cli._output import alerts_listing, results_listing
from farm.cli._tables import Column, Format, Listing, fit, print_listing
from farm.cli.config import config_listing
from farm.cli.devices import devices_listing, profiles_listing
from farm.cli.models import replicas_listing, zoo_listing
from farm.cli.regressions import detections_listing
from farm.cli.runs import runs_listing
from farm.cli.tools import tools_listing
from models.catalog import load_catalog
from models.inventory import ZooRow
from models.replicas import BuildResult
from orchestrator.alerts import AlertView
from orchestrator.config import load_settings
from orchestrator.queries import ResultRow, RunSummary
from orchestrator.regression import Detection
from orchestrator.repository import ToolRef

LONG_MODELS = ["deeplabv3-mnv2-dm05-pascal-int8-replica", "magenta-inceptionv3-transfer-fp16-replica",
               "builtin-[segmenter]"]  # brackets: markup must not eat them
SERIALS = ["127.0.0.1:7101", "R5CT30XYZAB"]


def _result(model: str, serial: str, status: str = "done") -> ResultRow:
    failed = status == "failed"
    return ResultRow(
        job_id="f" * 40, device=serial, device_model="Pixel 7", model=model, provenance="replica",
        model_sha256="a" * 64, size_mb=2.5, delegate="xnnpack", threads=4, status=status,
        value_ms=None if failed else 123.456, sessions=3, min_ms=None if failed else 120.0,
        max_ms=None if failed else 130.5, init_ms=10.0, first_inference_ms=140.0,
        memory_peak_mb=80.0, delegate_coverage="full",
        error_kind="delegate_failed" if failed else None,
        error_message="ERROR: GPU delegate is not available on this machine: LiteRT could not"
                      if failed else None)


def _alert(model: str) -> AlertView:
    return AlertView(7, f"{'a' * 12}/R5CT30XYZAB/xnnpackx4/2.16", model, "R5CT30XYZAB", "xnnpack x4",
                     "regression", "changepoint", date(2026, 2, 10), date(2026, 2, 12), 100.0,
                     109.5, 9.5, 0.001, 0.002, 0.01, "untriaged", "nightly-20260210-abcdef", {})


def _device(serial: str) -> dict[str, Any]:
    return {"serial": serial, "state": "device", "kind": "adb", "manufacturer": "Google",
            "model": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "soc": "Google Tensor G2",
            "abi": "arm64-v8a", "os": "Android 14 (SDK 34)", "fingerprint": "x" * 90, "cpu": {},
            "ram_mb": 8000, "gpu": "Mali-G710", "host": "farm-host-01", "info": {},
            "first_seen": datetime(2026, 1, 1, tzinfo=UTC),
            "last_seen": datetime(2026, 2, 1, 12, 30, tzinfo=UTC)}


def _listings() -> dict[str, tuple[Listing, list[str]]]:
    """Each listing the CLI prints, with the names that must appear whole."""
    results = [_result(m, s, status) for m in LONG_MODELS for s in SERIALS
               for status in ("done", "failed")]
    runs = [RunSummary(rid, "done", "nightly", datetime(2026, 2, 1, tzinfo=UTC), None, 84, 40, 21,
                       23, {}) for rid in ("nightly-20260201-abcdef", "3fa9c2d1")]
    tools = [ToolRef(1, "benchmark_model_plus_flex", "TF 2.16.1 (r2.16 nightly build)", "b" * 64,
                     "arm64-v8a", "/var/lib/farm/tools/a/very/long/path/to/benchmark_model")]
    entries = load_catalog().entries
    zoo = [ZooRow(e.replica_name, "replica", 2_500_000, e.name, e.reference_size_bytes, True)
           for e in entries]
    zoo.append(ZooRow(entries[0].name, "-", None, entries[0].name, None, False,
                      f"farm models build {entries[0].name}  |  farm models pull {entries[0].name}"))
    built = [BuildResult(e, Path(f"/x/{e.name}.tflite"), 2_400_000, True, 10, 12.5)
             for e in entries]
    detections = [Detection(f"{m}/R5CT30XYZAB/xnnpackx4/2.16", date(2026, 2, 10),
                            date(2026, 2, 12), "regression", 9.5, 0.001, "changepoint", 100.0,
                            109.5, (date(2026, 1, 1), date(2026, 2, 9))) for m in LONG_MODELS]
    return {
        "config": (config_listing(load_settings({})),
                   ["home", "database_url", "nightly_confirm_gap_s", "session_timeout_s"]),
        "detections": (detections_listing(detections), [d.series for d in detections]),
        "models": (zoo_listing(zoo), [e.replica_name for e in entries] + [entries[0].name]),
        "replicas": (replicas_listing(built), [e.replica_name for e in entries]),
        "results": (results_listing(results), LONG_MODELS + SERIALS),
        "alerts": (alerts_listing([_alert(m) for m in LONG_MODELS]), LONG_MODELS),
        "runs": (runs_listing(runs), ["nightly-20260201-abcdef", "3fa9c2d1"]),
        "devices": (devices_listing([_device(s) for s in SERIALS]), SERIALS),
        "profiles": (profiles_listing(), ["pixel-7", "galaxy-s21", "nokia-1-3"]),
        "tools": (tools_listing(tools), ["benchmark_model_plus_flex", "arm64-v8a"]),
    }


def _render(listing: Listing, width: int = 80, wide: bool = False) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=False, color_system=None)
    print_listing(console, listing, wide=wide)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("which", sorted(_listings()))
def test_every_table_reads_at_80_columns(which: str) -> None:
    listing, names = _listings()[which]
    lines = _render(listing)
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    for name in names:
        assert any(name in line for line in lines), f"{name!r} broken or missing:\n" + "\n".join(
            lines)
    # title, header, rule, then one line per row: nothing wraps
    assert len(lines) == 3 + len(listing.rows), "\n".join(lines)


def test_a_column_the_same_in_every_row_moves_into_the_title() -> None:
    listing = results_listing([_result(m, "local") for m in LONG_MODELS])
    lines = _render(listing)
    assert "(device: local)" in lines[0]
    assert not lines[1].startswith("device")


def test_wide_keeps_every_column_and_narrow_drops_the_optional_ones_first() -> None:
    listing = results_listing([_result(m, s, "failed") for m in LONG_MODELS for s in SERIALS])
    # the failed jobs' status shows in the median column, so "status" is the last to go
    narrow = [c.header for c in fit(listing, 80).columns]
    assert narrow == ["device", "model", "config", "median"]
    assert any(" failed" in line for line in _render(listing))
    assert "status" in [c.header for c in fit(listing, 100).columns]
    assert [c.header for c in fit(listing, 80, wide=True).columns] == [
        "device", "model", "config", "status", "median", "min-max", "note"]
    wide = _render(listing, wide=True)
    assert any("ERROR: GPU delegate is not available" in line for line in wide)
    assert [c.header for c in fit(listing, 400).columns][-1] == "note"


def test_names_wider_than_the_console_widen_the_table_instead_of_breaking() -> None:
    listing = Listing("t", (Column("name", "name", name=True), Column("note", "note")),
                      [{"name": "n" * 70, "note": "a long note that can be cut"}])
    lines = _render(listing, width=40)
    assert any("n" * 70 in line for line in lines)


def test_csv_and_json_carry_every_field_whatever_the_width(capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    listing = results_listing([_result(m, "local", "failed") for m in LONG_MODELS])
    print_listing(Console(width=20), listing, Format.json)
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == LONG_MODELS
    assert rows[0]["error_message"].startswith("ERROR: GPU") and "note" not in rows[0]
    print_listing(Console(width=20), listing, Format.csv)
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["model"] for r in parsed] == LONG_MODELS and parsed[0]["threads"] == "4"
