"""The executors (``farm.executors``): the embedded one on scripted phones, on both databases, with
no adb server; the choice of executor from the settings."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

import pytest

from farm.executors import DistributedExecutor, EmbeddedExecutor, executor_for
from orchestrator.config import load_settings
from orchestrator.jobspec import JobSpec
from orchestrator.planning import Submission
from orchestrator.progress import DeviceProgress
from orchestrator.storage import session_scope
from tests.support.plans import plan_run, run_jobs, run_status
from tests.support.scripted import phone_runners, register_phones, scripted_phone
from workers.device.protocol import ShellResult
from workers.device.scripted import ScriptedDevice

SERIALS = ("P1", "P2")
FAILED_DELEGATE = ShellResult("ERROR: Failed to apply XNNPACK delegate.\n"
                              "ERROR: Benchmarking failed.\n", "", 1)


def _run(tmp_path: Path, repeats: int = 2) -> str:
    settings = load_settings()
    with session_scope(settings) as db:
        register_phones(db, settings, SERIALS, tmp_path)
        return plan_run(db, Submission(models=("builtin-segmenter",), devices=SERIALS, threads=(1, 2),
                                       delegates=("xnnpack",),
                                       spec=JobSpec.from_settings(settings, repeats=repeats))).id


def _executor() -> tuple[EmbeddedExecutor, dict[str, ScriptedDevice]]:
    phones = {serial: scripted_phone(transport=f"t-{serial}")[0] for serial in SERIALS}
    return EmbeddedExecutor(load_settings(), runners=phone_runners(phones)), phones


def test_every_device_runs_its_jobs_one_session_at_a_time(db_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    run_id = _run(tmp_path)
    executor, _phones = _executor()
    events: dict[str, list[DeviceProgress]] = defaultdict(list)
    executor.start(run_id, lambda progress: events[progress.serial].append(progress))
    assert executor.wait(run_id) == "done"
    jobs = run_jobs(run_id)
    assert [j.status for j in jobs] == ["done"] * 4 and all(len(j.sessions) == 2 for j in jobs)
    for serial in SERIALS:
        spans = sorted((s.started_at, s.finished_at) for j in jobs if j.device.serial == serial
                       for s in j.sessions)
        assert len(spans) == 4
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:], strict=False))
        seen = events[serial]
        assert (seen[0].sessions_done, seen[0].sessions_total) == (0, 4)
        done = [e.sessions_done for e in seen]
        assert done == sorted(done) and done[-1] == 4 and seen[-1].jobs_final == 2


def test_a_job_that_fails_early_still_fills_its_devices_bar(db_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    run_id = _run(tmp_path, repeats=3)
    executor, phones = _executor()
    phones["P1"].on(r"--num_threads=2", FAILED_DELEGATE)
    last: dict[str, DeviceProgress] = {}
    executor.start(run_id, lambda progress: last.__setitem__(progress.serial, progress))
    assert {s: (p.sessions_done, p.sessions_total) for s, p in last.items()} == {
        "P1": (6, 6), "P2": (6, 6)}
    failed = [j for j in run_jobs(run_id) if j.status == "failed"]
    assert [(j.device.serial, j.num_threads, len(j.sessions)) for j in failed] == [("P1", 2, 1)]
    assert run_status(run_id) == "done"


def test_a_run_whose_every_job_failed_has_failed(db_env: dict[str, str], tmp_path: Path) -> None:
    run_id = _run(tmp_path)
    executor, phones = _executor()
    for phone in phones.values():
        phone.on(r"^timeout ", FAILED_DELEGATE)
    assert executor.run(run_id) == "failed"


def test_a_stop_keeps_what_was_measured_and_cancels_the_run(db_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    run_id = _run(tmp_path)
    executor, _phones = _executor()
    stop = threading.Event()
    executor.start(run_id, lambda progress: stop.set() if progress.sessions_done else None, stop)
    jobs = run_jobs(run_id)
    assert run_status(run_id) == "cancelled"
    assert {j.status for j in jobs} <= {"pending", "done"} and "pending" in {j.status for j in jobs}
    assert 1 <= sum(len(j.sessions) for j in jobs) <= 4  # each device ends its current session


def test_a_crash_on_one_device_stops_the_run_and_leaves_no_job_running(
        db_env: dict[str, str], tmp_path: Path) -> None:
    run_id = _run(tmp_path)
    executor, phones = _executor()

    def crash(_script: str) -> ShellResult:
        raise RuntimeError("a bug in a device thread")

    phones["P2"].on(r"^timeout ", crash)
    with pytest.raises(RuntimeError, match="a bug"):
        executor.start(run_id)
    assert run_status(run_id) == "cancelled"
    assert "running" not in {j.status for j in run_jobs(run_id)}


def test_the_executor_follows_the_settings(clean_env: dict[str, str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    embedded = executor_for(load_settings())
    assert isinstance(embedded, EmbeddedExecutor) and embedded.default_devices == ("local",)
    monkeypatch.setenv("FARM_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing needs to answer
    distributed = executor_for(load_settings())
    assert isinstance(distributed, DistributedExecutor) and distributed.default_devices == ("all",)
