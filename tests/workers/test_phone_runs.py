"""Benchmark runs on phones end to end: planning, the embedded executor, the adb runner, the real
adb server and virtual phones."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DbSession

from farm.executors import EmbeddedExecutor
from farm.inventory import discover_phones
from models.builtin import register_builtin_models
from orchestrator.config import load_settings
from orchestrator.jobspec import JobSpec
from orchestrator.planning import Submission
from orchestrator.schema import Job, Run
from orchestrator.storage import session_scope
from tests.support.adb import AdbServer
from tests.support.cli import farm
from tests.support.plans import plan_run
from tests.support.virtual_phones import ConnectedPhone
from workers.device.adb import AdbPhone, adb_client

pytestmark = pytest.mark.slow


@pytest.fixture
def env(farm_env: dict[str, str], adb: AdbServer) -> dict[str, str]:
    env = farm_env | {"ANDROID_ADB_SERVER_PORT": str(adb.port), "FARM_DEVICE_RETRIES": "2"}
    assert farm("tools", "add", "--host-runner", "--abi", "arm64-v8a", env=env).returncode == 0
    return env


def _serial(phone: ConnectedPhone) -> str:
    return phone.phone.device_serial


def _db(env: dict[str, str]) -> DbSession:
    return DbSession(create_engine(load_settings(env).effective_database_url))


def test_submit_on_phones_pins_shuffles_caches_and_records(
        env: dict[str, str], phone_factory: Callable[..., ConnectedPhone], adb: AdbServer) -> None:
    pixel, galaxy = phone_factory(profile="pixel-7"), phone_factory(profile="galaxy-s21")
    args = ("submit", "--devices", "all", "--models", "builtin-segmenter,builtin-stylizer",
            "--threads", "1,2", "--delegates", "xnnpack", "--repeats", "2", "--pin", "big",
            "--no-report")
    first = farm(*args, env=env)
    assert first.returncode == 0, first.stderr
    device = AdbPhone(adb_client(adb.port), pixel.serial)
    listing = device.run_script("ls -l --time-style=+%s /data/local/tmp/farm/*/*").stdout

    with _db(env) as db:
        run = db.scalars(select(Run)).one()
        assert run.status == "done"
        assert {j.device.serial for j in run.jobs} == {_serial(pixel), _serial(galaxy)}
        for job in run.jobs:
            assert job.status == "done", job.error_message
            assert len(job.sessions) == 2
            for s in job.sessions:
                assert s.command[:4] == ["timeout", "-s", "KILL", "600"]
                assert s.command[4:6] == ["taskset", "f0"]  # both profiles: 4 little cores first
                assert s.tool_name == "litert-host-runner"
                assert s.device_fingerprint == job.device.fingerprint
                assert s.temp_before_c is not None and s.temp_after_c is not None
                assert s.environment["gate"]["passed"] is True
                assert s.environment["before"]["battery_level"] is not None
                assert s.num_threads == job.num_threads and s.inference_avg_ms > 0
        # per phone, sessions run in a shuffled order across models and configs (seeded), one
        # at a time, in the order recorded with them
        interleaved = []
        for serial in {j.device.serial for j in run.jobs}:
            sessions = sorted((s for j in run.jobs if j.device.serial == serial for s in j.sessions),
                              key=lambda s: s.environment["order"]["position"])
            assert [s.environment["order"]["position"] for s in sessions] == list(range(8))
            job_order = [s.job_id for s in sessions]
            interleaved.append(job_order != sorted(job_order, key=job_order.index))
            spans = [(s.started_at, s.finished_at) for s in sessions]
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
        # A fair shuffle of 4 jobs x 2 sessions comes out job by job with probability
        # 4! * 2**4 / 8! (about 1%): on both phones at once, about 1e-4.
        assert any(interleaved), "sessions ran job by job on every phone, not interleaved"

    # The second submission finds model and tool on the phones: nothing is pushed again.
    second = farm(*args, env=env)
    assert second.returncode == 0, second.stderr
    assert device.run_script("ls -l --time-style=+%s /data/local/tmp/farm/*/*").stdout == listing


def test_phone_without_a_tool_for_its_abi(env: dict[str, str],
                                          phone_factory: Callable[..., ConnectedPhone]) -> None:
    nokia = phone_factory(profile="nokia-1-3")  # 32-bit only: armeabi-v7a
    result = farm("submit", "--devices", "all", "--models", "builtin-segmenter", "--threads", "1",
                  "--delegates", "xnnpack", "--repeats", "1", "--no-report", env=env)
    # pre-flight: one error before planning, not one identical failure per job
    assert result.returncode == 2, result.stdout + result.stderr
    assert (f"error: no benchmark tool is registered for ABI armeabi-v7a "
            f"({_serial(nokia)})") in result.stderr
    assert "farm tools add --host-runner --abi armeabi-v7a" in result.stderr
    assert json.loads(farm("runs", "list", "-f", "json", env=env).stdout) == []


def _last_run(env: dict[str, str]) -> str:
    with _db(env) as db:
        return db.scalars(select(Run).order_by(Run.created_at.desc())).first().id  # type: ignore[union-attr]


def _submit_in_process(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, repeats: int,
                       on_progress: Callable[[object], None]) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    with session_scope(settings) as db:
        register_builtin_models(db, settings)
        discover_phones(db)
        run = plan_run(db, Submission(models=("builtin-stylizer",), devices=("all",),
                                           threads=(1,), delegates=("xnnpack",),
                                           spec=JobSpec.from_settings(settings, repeats=repeats)))
    EmbeddedExecutor(settings).start(run.id, progress=on_progress)
    return run.id


def test_phone_dropping_mid_run_is_retried_on_reconnect(
        env: dict[str, str], phone: ConnectedPhone, monkeypatch: pytest.MonkeyPatch) -> None:
    drops = []

    def on_progress(event: object) -> None:
        if getattr(event, "sessions_done", 0) == 1 and not drops:
            # Cut the link during the next shell commands: the next session's gate, benchmark or
            # snapshot fails, and the runner must wait for the phone and measure it again.
            drops.append(phone.phone.set_faults("drop-shell=2"))

    run_id = _submit_in_process(env, monkeypatch, 4, on_progress)
    with _db(env) as db:
        job = db.scalars(select(Job).where(Job.run_id == run_id)).one()
        assert drops and job.status == "done", job.error_message
        assert sorted(s.repeat_index for s in job.sessions) == [0, 1, 2, 3]
        assert all(s.status == "ok" for s in job.sessions)


def test_phone_that_never_returns_fails_its_jobs_and_others_carry_on(
        env: dict[str, str], phone_factory: Callable[..., ConnectedPhone],
        monkeypatch: pytest.MonkeyPatch) -> None:
    doomed, healthy = phone_factory(profile="pixel-7"), phone_factory(profile="galaxy-s21")
    killed = threading.Event()

    def on_progress(event: object) -> None:
        if (getattr(event, "serial", None) == _serial(doomed)
                and getattr(event, "sessions_done", 0) >= 1 and not killed.is_set()):
            killed.set()
            doomed.phone.stop()  # unplugged for good

    run_id = _submit_in_process(env, monkeypatch, 3, on_progress)
    with _db(env) as db:
        jobs = {j.device.serial: j for j in db.scalars(select(Job).where(Job.run_id == run_id))}
        lost = jobs[_serial(doomed)]
        assert lost.status == "failed" and lost.error_kind == "device_lost"
        assert [s.status for s in lost.sessions] == ["ok"]  # what was measured is kept
        assert jobs[_serial(healthy)].status == "done"
        assert len(jobs[_serial(healthy)].sessions) == 3


def test_model_named_like_an_injection_runs_as_data(
        env: dict[str, str], phone: ConnectedPhone, adb: AdbServer, tmp_path: Path) -> None:
    from models.builtin import build_builtin_models

    canary = "/data/local/tmp/injected"
    folder = tmp_path / "dir; touch injected; $(touch injected)"  # no '/' in a file name
    source = build_builtin_models(tmp_path)["builtin-segmenter"]
    folder.mkdir()
    hostile = folder / "m`touch x`.tflite"
    hostile.write_bytes(source.read_bytes())
    name = f"evil'; touch {canary}; echo '"
    assert farm("models", "add", str(hostile), "--name", name, env=env).returncode == 0
    result = farm("submit", "--devices", "all", "--models", name, "--threads", "1",
                  "--delegates", "xnnpack", "--repeats", "1", "--no-report", env=env)
    assert result.returncode == 0, result.stderr
    rows = json.loads(farm("results", _last_run(env), "-f", "json", env=env).stdout)
    assert rows[0]["status"] == "done" and rows[0]["model"] == name
    device = AdbPhone(adb_client(adb.port), phone.serial)
    assert device.shell(["ls", canary]).exit_code != 0
    assert device.run_script("ls / /data/local/tmp | grep -c injected").stdout.strip() == "0"
