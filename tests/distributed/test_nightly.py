"""The nightly schedule: one run per (schedule, night) however many schedulers submit it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from farm.distributed.celery_app import beat_schedule
from farm.inventory import ensure_local_device
from farm.nightly import submit_nightly
from models.builtin import register_builtin_models
from orchestrator.config import load_settings
from orchestrator.planning import nightly_run_id
from orchestrator.schema import Run
from orchestrator.storage import session_scope
from tests.distributed.conftest import WorkerProcess, run_jobs, wait_for
from tests.support.cli import farm
from tests.support.redis import RedisServer

pytestmark = pytest.mark.slow

NIGHTLY = {"FARM_NIGHTLY_MODELS": "builtin-stylizer", "FARM_NIGHTLY_DEVICES": "local",
           "FARM_NIGHTLY_THREADS": "1", "FARM_NIGHTLY_DELEGATES": "xnnpack",
           "FARM_NIGHTLY_REPEATS": "1"}


@pytest.fixture
def nightly_env(dist_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in NIGHTLY.items():
        monkeypatch.setenv(key, value)
    return dist_env | NIGHTLY


def _as_live_worker_device() -> None:
    """`local` as a worker registers it (what `farm worker --devices local` does each heartbeat);
    the built-in models in place (writing them is not safe from concurrent threads)."""
    settings = load_settings()
    with session_scope(settings) as db:
        register_builtin_models(db, settings)
        device = ensure_local_device(db)
        device.host, device.info = "host-a", device.info | {"worker": "host-a"}


def _nightly_runs() -> list[Run]:
    with session_scope(load_settings()) as db:
        return list(db.scalars(select(Run).where(Run.trigger == "nightly")))


def test_the_same_night_is_submitted_once_by_concurrent_schedulers(
        nightly_env: dict[str, str], redis: RedisServer) -> None:
    _as_live_worker_device()
    settings, night = load_settings(), date(2026, 3, 14)
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def scheduler() -> None:
        barrier.wait()
        try:
            results.append(submit_nightly(settings, "nightly", night))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 4
    results.append(submit_nightly(settings, "nightly", night))  # a restarted scheduler

    run_id = nightly_run_id("nightly", night)
    assert {r for r, _ in results} == {run_id}
    assert sum(created for _, created in results) == 1
    assert [(r.id, r.trigger) for r in _nightly_runs()] == [(run_id, "nightly")]
    assert redis.client().llen("device.local") == 1  # one task, sent once
    # another night, another run
    other, created = submit_nightly(settings, "nightly", date(2026, 3, 15))
    assert created and other != run_id and redis.client().llen("device.local") == 2


def test_beat_schedule_comes_from_farm_toml(nightly_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "farm.toml").write_text('[nightly]\ncron = "30 3 * * 1-5"\n')
    entry = beat_schedule(load_settings(), "nightly")["nightly"]
    schedule = entry["schedule"]
    assert (entry["task"], entry["args"]) == ("farm.nightly", ["nightly"])
    assert schedule.hour == {3} and schedule.minute == {30}  # type: ignore[attr-defined]
    assert schedule.day_of_week == {1, 2, 3, 4, 5}  # type: ignore[attr-defined]
    (tmp_path / "farm.toml").write_text('[nightly]\ncron = "30 27 * * *"\n')
    bad = farm("beat", env=nightly_env)
    assert bad.returncode == 2 and "nightly cron" in bad.stderr


def test_two_beats_fire_one_nightly_run(
        nightly_env: dict[str, str], tmp_path: Path,
        start_worker: Callable[..., WorkerProcess]) -> None:
    worker = start_worker("host-a", ["local"], control=True, env=nightly_env)
    env = nightly_env | {"FARM_NIGHTLY_CRON": "* * * * *"}  # every minute: due within 60 s
    beats = []
    for index in range(2):
        log = (tmp_path / f"beat-{index}.log").open("wb")
        beats.append(subprocess.Popen(
            [sys.executable, "-m", "farm.cli", "beat", "--state",
             str(tmp_path / f"beat-{index}.state")], env=env, stdout=log,
            stderr=subprocess.STDOUT))
    try:
        wait_for(lambda: all("Sending due task" in (tmp_path / f"beat-{i}.log").read_text()
                             for i in range(2)), 90, "both beats to fire")
        night = datetime.now(UTC).date()
        run_id = nightly_run_id("nightly", night)
        wait_for(lambda: any(r.id == run_id and r.status == "done" for r in _nightly_runs()),
                 120, "the nightly run to finish")
    finally:
        for beat in beats:
            beat.terminate()
            beat.wait(timeout=30)
    assert [r.id for r in _nightly_runs()] == [run_id]
    jobs = run_jobs(run_id)
    assert [(j.status, len(j.sessions), j.device.serial) for j in jobs] == [("done", 1, "local")]
    # the submitting consumer screened the night once it was measured
    wait_for(lambda: f"nightly {run_id}: 1 series screened" in worker.output(), 60,
             "the night to be screened")


def test_farm_nightly_now_through_the_workers(
        nightly_env: dict[str, str], start_worker: Callable[..., WorkerProcess]) -> None:
    """`farm nightly --now` with a broker: handed to the control queue, or followed with --wait."""
    worker = start_worker("host-a", ["local"], control=True, env=nightly_env)
    run_id = nightly_run_id("nightly", datetime.now(UTC).date())

    handed = farm("nightly", "--now", env=nightly_env)
    assert handed.returncode == 0, handed.stderr
    assert run_id in handed.stdout and "farm watch" in handed.stdout
    wait_for(lambda: any(r.id == run_id and r.status == "done" for r in _nightly_runs()), 120,
             "the handed-over nightly run to finish")
    wait_for(lambda: f"nightly {run_id}: 1 series screened" in worker.output(), 60,
             "the control consumer to screen the night")

    # --wait on the same night: no second run; it follows the workers and screens here
    followed = farm("nightly", "--now", "--wait", "--json", env=nightly_env)
    assert followed.returncode == 0, followed.stderr  # first night: warming up, no regression
    outcome = json.loads(followed.stdout)
    assert outcome["run_id"] == run_id and outcome["series"] == 1
    assert outcome["warming_up"] == 1 and outcome["alerts"] == []
    assert "already submitted" in followed.stderr
    assert [r.id for r in _nightly_runs()] == [run_id]
