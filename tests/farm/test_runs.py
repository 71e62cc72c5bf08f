"""Runs after submission (``farm.runs``): list, details by id prefix, watch, cancel."""

from __future__ import annotations

from pathlib import Path

import pytest

from farm.executors import EmbeddedExecutor
from farm.runs import cancel, list_runs, run_details, watch
from models.selection import resolve_models
from orchestrator.config import load_settings
from orchestrator.errors import NotFound, PlanError
from orchestrator.jobspec import JobSpec
from orchestrator.planning import Submission, create_run, resolve_devices
from orchestrator.storage import session_scope
from tests.support.scripted import register_phones


def _runs(tmp_path: Path, *run_ids: str) -> None:
    settings = load_settings()
    with session_scope(settings) as db:
        register_phones(db, settings, ("P1",), tmp_path)
        submission = Submission(models=("builtin-segmenter",), devices=("P1",), threads=(1, 2),
                                delegates=("xnnpack", "nnapi"),
                                spec=JobSpec.from_settings(settings, repeats=1))
        models, _ = resolve_models(db, submission.models)
        for run_id in run_ids:
            create_run(db, submission, models, resolve_devices(db, ("P1",)), run_id=run_id)


def test_runs_by_id_or_unique_prefix(db_env: dict[str, str], tmp_path: Path) -> None:
    _runs(tmp_path, "abc123", "abd456", "zzz")
    details = run_details(load_settings(), "abc")
    assert details.run.id == "abc123" and details.run.jobs == 3  # xnnpack x2, nnapi once
    assert [r.status for r in details.results] == ["pending", "pending", "pending"]
    assert run_details(load_settings(), "zzz").run.id == "zzz"
    with pytest.raises(NotFound, match="ambiguous"):
        run_details(load_settings(), "ab")
    with pytest.raises(NotFound, match="no run 'q'"):
        run_details(load_settings(), "q")
    assert {r.id for r in list_runs(load_settings(), limit=2)} <= {"abc123", "abd456", "zzz"}
    assert len(list_runs(load_settings(), limit=2)) == 2


def test_cancel_then_watch(db_env: dict[str, str], tmp_path: Path) -> None:
    _runs(tmp_path, "r1")
    executor = EmbeddedExecutor(load_settings())
    assert cancel(load_settings(), executor, "r1") == "r1"
    final = watch(load_settings(), "r1")
    assert final.status == "cancelled" and final.finished
    assert [r.status for r in run_details(load_settings(), "r1").results] == ["cancelled"] * 3
    with pytest.raises(PlanError, match="already cancelled"):
        cancel(load_settings(), executor, "r1")
