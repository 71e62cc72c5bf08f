"""One model file registered under two names (issue 28, item 5).

A copy of a model added with `farm models add` under another name has the same sha256, and a
job's id is derived from the file's sha256 (``planning.job_key``): planning both names used to
insert the same job id twice. The decision: one job per file. Identical bytes measure
identically, so the file is measured once, under the first name selected, and `farm submit`
says so before the run starts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session as DbSession

from models.builtin import build_builtin_models
from orchestrator.config import load_settings
from orchestrator.schema import Run
from tests.support.cli import farm

pytestmark = pytest.mark.slow

FAST = ("--devices", "local", "--threads", "1", "--delegates", "cpu", "--repeats", "1",
        "--num-runs", "2", "--min-secs", "0.01", "--no-report")


@pytest.fixture
def copy_of_segmenter(farm_db_env: dict[str, str], tmp_path: Path) -> str:
    """``seg-copy``: the built-in segmenter's bytes under another name (the built-ins are
    byte-identical on every machine, so this is the file `farm submit` registers)."""
    original = build_builtin_models(tmp_path / "built")["builtin-segmenter"]
    copy = tmp_path / "seg-copy.tflite"
    shutil.copyfile(original, copy)
    added = farm("models", "add", str(copy), env=farm_db_env)
    assert added.returncode == 0, added.stderr
    return "seg-copy"


def _jobs(env: dict[str, str], result: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    run_id = re.search(r"run (\w{8})", result.stdout).group(1)  # type: ignore[union-attr]
    with DbSession(create_engine(load_settings(env).effective_database_url)) as db:
        run = db.get(Run, run_id)
        assert run is not None
        assert run.spec["same_files"] == {"builtin-segmenter": ["seg-copy"]} or (
            run.spec["same_files"] == {"seg-copy": ["builtin-segmenter"]})
        return sorted((job.model.name, job.status) for job in run.jobs)


def test_submit_all_measures_a_copied_model_file_once(
        farm_db_env: dict[str, str], copy_of_segmenter: str) -> None:
    result = farm("submit", "--models", "all", *FAST, env=farm_db_env)
    print(result.returncode, result.stderr[-2000:])
    assert result.returncode == 0, result.stderr
    assert "IntegrityError" not in result.stderr
    said = re.findall(r"models builtin-segmenter and seg-copy are the same file \(sha256 "
                      r"[0-9a-f]{12}\): measured once, as builtin-segmenter", result.stderr)
    assert len(said) == 1, result.stderr
    assert _jobs(farm_db_env, result) == [("builtin-segmenter", "done"),
                                          ("builtin-stylizer", "done")]


def test_naming_both_copies_measures_the_file_once_as_the_first(
        farm_db_env: dict[str, str], copy_of_segmenter: str) -> None:
    result = farm("submit", "--models", f"{copy_of_segmenter},builtin-segmenter", *FAST,
                  env=farm_db_env)
    assert result.returncode == 0, result.stderr
    assert ("models seg-copy and builtin-segmenter are the same file" in result.stderr
            and "measured once, as seg-copy" in result.stderr), result.stderr
    assert _jobs(farm_db_env, result) == [("seg-copy", "done")]
