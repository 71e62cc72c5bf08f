"""`farm regressions detect|list|triage` through the real command line."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from orchestrator import storage
from orchestrator.alerts import store_alert
from orchestrator.config import load_settings
from orchestrator.regression import Confirmation, Detection, DetectorParams, detect_history
from orchestrator.schema import Run
from orchestrator.series import SeriesKey, read_csv
from tests.support.cli import farm


def _write_history(path: Path) -> None:
    rng = np.random.default_rng(11)
    lines = ["series,night,value"]
    for name, step_night, size in (("slower", 25, 0.15), ("faster", 30, -0.12), ("flat", None, 0)):
        for night in range(45):
            day = date.fromordinal(date(2026, 1, 1).toordinal() + night).isoformat()
            level = 8.0 * (1 + (size if step_night is not None and night >= step_night else 0))
            lines += [f"{name},{day},{level * (1 + 0.01 * rng.standard_normal()):.5f}"
                      for _ in range(4)]
    path.write_text("\n".join(lines) + "\n")


def test_detect_json_contract_and_agreement_with_the_library(farm_env: dict[str, str],
                                                              tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    _write_history(path)
    result = farm("regressions", "detect", "--input", str(path), "--json", env=farm_env)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert all(set(item) == {"series", "night", "direction", "change_pct"} for item in printed)
    assert {(i["series"], i["night"], i["direction"]) for i in printed} == {
        ("slower", "2026-01-26", "regression"), ("faster", "2026-01-31", "improvement")}
    changes = {i["series"]: i["change_pct"] for i in printed}
    assert 13 < changes["slower"] < 17 and -14 < changes["faster"] < -10
    library = [d.to_json() for d in detect_history(read_csv(path), DetectorParams())]
    assert printed == library


def test_detect_rejects_a_bad_file_with_a_hint(farm_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("series,night,value\na,1,fast\n")
    result = farm("regressions", "detect", "--input", str(path), "--json", env=farm_env)
    assert result.returncode != 0 and "not a positive number" in result.stderr
    assert "hint" in result.stderr and result.stdout == ""


@pytest.mark.slow
def test_list_and_triage_stored_alerts(farm_db_env: dict[str, str]) -> None:
    settings = load_settings(farm_db_env)
    key = SeriesKey("cd" * 32, "phone1", "xnnpack", 4, "2.3")
    detection = Detection(key.label, date(2026, 2, 10), date(2026, 2, 12), "regression", 9.5, 1e-5,
                          "screen", 10.0, 10.95, (date(2026, 1, 10), date(2026, 2, 9)))
    with storage.session_scope(settings) as db:
        db.add(Run(id="nightly1", trigger="nightly", created_at=datetime(2026, 2, 12, tzinfo=UTC)))
        db.flush()
        kwargs = {"model_name": "deeplab", "run_id": "nightly1",
                  "confirmation": Confirmation(True, 0.093, 0.004), "noise_cv": 0.012,
                  "evidence": {"rerun_sessions": [10.9, 11.0]}}
        first = store_alert(db, detection, key, **kwargs)
        again = store_alert(db, detection, key, **kwargs)  # re-detected: refreshed, not duplicated
        assert again.id == first.id
    listed = farm("regressions", "list", "--json", env=farm_db_env)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["id"] == first.id and row["state"] == "untriaged" and row["model"] == "deeplab"
    assert row["night"] == "2026-02-10" and row["change_pct"] == 9.5 and row["run_id"] == "nightly1"

    done = farm("regressions", "triage", str(first.id), "acknowledged", env=farm_db_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(farm("regressions", "list", "--json", "--state", "acknowledged",
                           env=farm_db_env).stdout)[0]["state"] == "acknowledged"
    assert json.loads(farm("regressions", "list", "--json", "--state", "fixed",
                           env=farm_db_env).stdout) == []

    bad = farm("regressions", "triage", str(first.id), "maybe", env=farm_db_env)
    assert bad.returncode == 2 and "unknown alert state" in bad.stderr
    missing = farm("regressions", "triage", "999", "fixed", env=farm_db_env)
    assert missing.returncode != 0 and "no alert 999" in missing.stderr
