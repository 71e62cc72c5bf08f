"""A run's progress per device, from its rows, and the loop that follows a run
(``orchestrator.progress``), on both databases."""

from __future__ import annotations

import pytest

from models.builtin import register_builtin_models
from orchestrator import repository
from orchestrator.config import load_settings
from orchestrator.errors import NotFound
from orchestrator.jobspec import JobSpec
from orchestrator.planning import Submission
from orchestrator.progress import RunProgress, follow_run, run_progress
from orchestrator.results import ParsedRun, Provenance, SessionRecord
from orchestrator.schema import Run
from orchestrator.storage import session_scope
from tests.support.plans import plan_run
from tests.support.scripted import device_record


def _run(repeats: int = 3) -> str:
    settings = load_settings()
    with session_scope(settings) as db:
        register_builtin_models(db, settings)
        repository.upsert_device(db, device_record("P1"))
        repository.upsert_device(db, device_record("P2"))
        return plan_run(db, Submission(models=("builtin-segmenter",), devices=("P1", "P2"),
                                       threads=(1, 2), delegates=("xnnpack",),
                                       spec=JobSpec.from_settings(settings, repeats=repeats))).id


def _session(db: object, job_id: str, index: int) -> None:
    record = SessionRecord.from_parse(ParsedRun(status="ok", inference_avg_ms=1.0), "",
                                      Provenance(model_sha256=None, tool_name="t"))
    repository.save_session(db, job_id, index, record)  # type: ignore[arg-type]


def test_progress_per_device(db_env: dict[str, str]) -> None:
    run_id = _run()
    with session_scope(load_settings()) as db:
        run = db.get(Run, run_id)
        assert run is not None
        p1 = [job for job in run.jobs if job.device.serial == "P1"]
        p1[0].status = "failed"  # failed after one session: counts all three
        _session(db, p1[0].id, 0)
        p1[1].status = "running"
        for index in range(2):
            _session(db, p1[1].id, index)
    with session_scope(load_settings()) as db:
        progress = run_progress(db, run_id)
    devices = {d.serial: d for d in progress.devices}
    assert (devices["P1"].sessions_done, devices["P1"].sessions_total) == (5, 6)
    assert (devices["P1"].jobs_final, devices["P1"].jobs_total) == (1, 2)
    assert devices["P1"].current == "builtin-segmenter xnnpack x2"
    assert (devices["P2"].sessions_done, devices["P2"].current) == (0, "")
    assert progress.status == "queued" and not progress.finished


def test_progress_of_an_unknown_run(db_env: dict[str, str]) -> None:
    with session_scope(load_settings()) as db, pytest.raises(NotFound):
        run_progress(db, "nope")


def test_follow_polls_until_the_run_is_final(db_env: dict[str, str]) -> None:
    run_id = _run(repeats=1)
    seen: list[RunProgress] = []
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:  # the workers finish meanwhile
            with session_scope(load_settings()) as db:
                run = db.get(Run, run_id)
                assert run is not None
                for job in run.jobs:
                    job.status = "done"
                repository.settle_run(db, run_id)

    final = follow_run(load_settings(), run_id, seen.append, poll_s=0.5, sleep=sleep)
    assert final.status == "done" and final.finished
    assert naps == [0.5, 0.5, 0.5] and len(seen) == 4
    assert all(d.sessions_done == d.sessions_total for d in final.devices)
