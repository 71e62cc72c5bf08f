"""The job pipeline (``workers.service``): how a raw session becomes a stored one, and every step of
a device batch on scripted phones, on both databases, with no adb server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models.builtin import register_builtin_models
from orchestrator.config import Settings, load_settings
from orchestrator.errors import DeviceLost, LeaseLost
from orchestrator.jobspec import JobSpec
from orchestrator.planning import Submission
from orchestrator.repository import JobOutcome, upsert_device
from orchestrator.results import Provenance
from orchestrator.schema import Job
from orchestrator.storage import session_scope
from tests.support.plans import plan_run
from tests.support.scripted import (
    FakeClock,
    PhoneState,
    device_record,
    phone_runners,
    scripted_phone,
)
from workers.device.protocol import Device, ShellResult
from workers.device.scripted import ScriptedDevice, ScriptedLink
from workers.runners import RawSession
from workers.service import execute_jobs, session_record
from workers.tools.registry import register_tool

NOW = datetime.now(UTC)


def _raw(output: str, code: int | None, error_kind: str | None = None) -> RawSession:
    return RawSession(argv=["bm"], output=output, exit_code=code, started_at=NOW, finished_at=NOW,
                      error_kind=error_kind, error_message="killed" if error_kind else None)


def _record(raw: RawSession):  # type: ignore[no-untyped-def]
    return session_record(raw, Provenance(model_sha256=None, tool_name="bm"))


def _host_runner_ok() -> str:
    from tests.workers.tools.helpers import FIXTURES

    return next(FIXTURES.glob("90_*.txt")).read_text()


def test_ok_run_keeps_the_parse() -> None:
    values = _record(_raw(_host_runner_ok(), 0))
    assert values.status == "ok" and values.error_kind is None
    assert values.parsed.inference_avg_ms is not None


def test_exit_status_after_summary_is_a_crash() -> None:
    values = _record(_raw(_host_runner_ok(), 139))
    assert values.status == "failed" and values.error_kind == "crash"
    assert values.parsed.inference_avg_ms is not None  # what was measured is kept


def test_timeout_mid_run() -> None:
    cut = "\n".join(_host_runner_ok().splitlines()[:12])
    values = _record(_raw(cut, None, "timeout"))
    assert values.status == "incomplete" and values.error_kind == "timeout"


def test_output_that_just_stops() -> None:
    cut = "\n".join(_host_runner_ok().splitlines()[:12])
    crashed = _record(_raw(cut, 1))
    assert crashed.status == "incomplete" and crashed.error_kind == "crash"
    assert "status 1" in str(crashed.error_message)
    silent = _record(_raw(cut, 0))
    assert silent.error_kind == "unknown" and "ended before" in str(silent.error_message)


# -- the pipeline, on scripted phones and both databases (no adb server) -------------------------

SERIAL = "SCRIPTED1"


@dataclass
class Farm:
    settings: Settings
    phone: ScriptedDevice
    state: PhoneState
    links: dict[str, ScriptedLink]
    run_id: str
    job_ids: list[str]

    clock: FakeClock = field(default_factory=FakeClock)

    def execute(self, job_ids: list[str] | None = None, **kwargs: Any) -> list[JobOutcome]:
        return execute_jobs(self.settings, job_ids or self.job_ids,
                            runners=phone_runners({SERIAL: self.phone}, self.links, self.clock),
                            **kwargs)

    def jobs(self) -> list[Job]:
        with session_scope(self.settings) as db:
            jobs = list(db.scalars(select(Job).where(Job.run_id == self.run_id).order_by(Job.seq)))
            for job in jobs:
                _ = (job.sessions, job.model)
            return jobs


def _farm(tmp_path: Path, *, repeats: int = 3, models: tuple[str, ...] = ("builtin-segmenter",),
          threads: tuple[int, ...] = (1,), pin: str | None = None, tool: bool = True) -> Farm:
    settings = load_settings()
    phone, state = scripted_phone()
    with session_scope(settings) as db:
        register_builtin_models(db, settings)
        upsert_device(db, device_record(SERIAL))
        if tool:
            binary = tmp_path / "benchmark_model"
            binary.write_text("#!/bin/sh\n")
            register_tool(db, binary, abi="arm64-v8a", name="benchmark_model", tool_version="2.16")
        run = plan_run(db, Submission(models=models, devices=(SERIAL,), threads=threads,
                                      delegates=("xnnpack",),
                                      spec=JobSpec.from_settings(settings, repeats=repeats, pin=pin)))
        job_ids = [job.id for job in run.jobs]
        return Farm(settings, phone, state, {}, run.id, job_ids)


def _latencies(*values: float) -> Callable[[str], float]:
    """Session latencies in the order the sessions run."""
    queue = list(values)
    return lambda _command: queue.pop(0)


def test_a_jobs_value_is_the_median_of_its_sessions_not_the_mean(db_env: dict[str, str],
                                                                  tmp_path: Path) -> None:
    farm = _farm(tmp_path)
    farm.state.latency_ms = _latencies(10.0, 30.0, 11.0)  # median 11, mean 17
    (outcome,) = farm.execute()
    assert (outcome.status, outcome.value_ms) == ("done", pytest.approx(11.0))
    (job,) = farm.jobs()
    assert job.value_ms == pytest.approx(11.0)
    assert sorted(s.inference_avg_ms for s in job.sessions) == pytest.approx([10.0, 11.0, 30.0])


def test_sessions_carry_their_command_order_and_provenance(db_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    farm = _farm(tmp_path, repeats=2, models=("builtin-segmenter", "builtin-stylizer"),
                 threads=(1, 2), pin="big")
    outcomes = farm.execute(shuffle_seed=7)
    assert [o.status for o in outcomes] == ["done"] * 4
    sessions = sorted((s for job in farm.jobs() for s in job.sessions),
                      key=lambda s: s.environment["order"]["position"])
    assert [s.environment["order"] for s in sessions] == [
        {"seed": 7, "position": i} for i in range(8)]
    for job in farm.jobs():
        assert job.tool_id is not None and job.attempts == 1
        for s in job.sessions:
            remote_model = f"/data/local/tmp/farm/{job.model.sha256}/model.tflite"
            assert s.command[:6] == ["timeout", "-s", "KILL", "600", "taskset", "f0"]
            assert f"--graph={remote_model}" in s.command
            assert f"--num_threads={job.num_threads}" in s.command
            assert s.num_threads == job.num_threads
            assert (s.model_sha256, s.tool_name, s.tool_version) == (
                job.model.sha256, "benchmark_model", "2.16")
            assert s.device_fingerprint == f"scripted/{SERIAL}:14/user"
            assert s.environment["gate"]["passed"] and s.temp_before_c == 30.0
    # each model and the tool went to the phone once; a second run of the same files pushes nothing
    assert len(farm.phone.commands("push")) == 3
    again = _farm(tmp_path, repeats=1)
    again.phone = farm.phone
    again.execute()
    assert len(farm.phone.commands("push")) == 3


def test_a_finished_job_is_not_run_again_and_an_interrupted_one_resumes(
        db_env: dict[str, str], tmp_path: Path) -> None:
    farm = _farm(tmp_path)
    farm.execute()
    (job,) = farm.jobs()
    kept = {s.repeat_index: s.id for s in job.sessions}
    benchmarks = len(farm.phone.commands())
    assert farm.execute()[0].status == "done"
    assert len(farm.phone.commands()) == benchmarks  # nothing ran
    with session_scope(farm.settings) as db:
        stored = db.get(Job, job.id)
        assert stored is not None
        db.delete(next(s for s in stored.sessions if s.repeat_index == 1))
        stored.status = "running"
    assert farm.execute()[0].status == "done"
    (job,) = farm.jobs()
    assert sorted(s.repeat_index for s in job.sessions) == [0, 1, 2]
    assert {i: s.id for i, s in ((s.repeat_index, s) for s in job.sessions) if i != 1} == {
        i: kept[i] for i in (0, 2)}
    assert job.attempts == 2


def test_a_phone_lost_mid_session_is_waited_for_and_measured_again(
        db_env: dict[str, str], tmp_path: Path) -> None:
    farm = _farm(tmp_path)
    farm.phone.fail(r"^timeout ", DeviceLost("SCRIPTED1: connection lost"), times=1)
    (outcome,) = farm.execute()
    assert outcome.status == "done"
    (job,) = farm.jobs()
    assert [s.status for s in job.sessions] == ["ok"] * 3
    assert farm.links[SERIAL].finds == 2  # found at the start, then again after the drop


@dataclass
class _LinkBackAt(ScriptedLink):
    """A link whose phone is away from the first loss until ``away_s`` of the clock later."""

    clock: FakeClock = field(default_factory=FakeClock)
    away_s: float = 0.0
    lost_at: float | None = None

    def find(self) -> Device | None:
        self.finds += 1
        if self.lost_at is None or self.clock() - self.lost_at >= self.away_s:
            return self.device
        return None


def _lost_for(farm: Farm, away_s: float) -> _LinkBackAt:
    """The phone drops in its second session and stays away ``away_s`` (scripted time)."""
    link = _LinkBackAt(farm.phone, SERIAL, clock=farm.clock, away_s=away_s)
    farm.links[SERIAL] = link
    sessions = []

    def drop_in_second(_command: str) -> float:
        sessions.append(1)
        if len(sessions) == 2:
            link.lost_at = farm.clock()
            raise DeviceLost("SCRIPTED1: connection lost")
        return 20.0

    farm.state.latency_ms = drop_in_second
    return link


def test_a_phone_away_for_half_a_minute_is_waited_for_with_backoff(
        db_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a USB reset: the phone re-enumerates after 30 s (the runner used to give up after 2 s),
    # well within the default wait
    monkeypatch.delenv("FARM_DEVICE_RECONNECT")
    farm = _farm(tmp_path)
    link = _lost_for(farm, away_s=30.0)
    (outcome,) = farm.execute()
    assert outcome.status == "done", outcome.error_message
    (job,) = farm.jobs()
    assert [s.status for s in job.sessions] == ["ok"] * 3
    assert farm.clock() >= 30.0
    # looks at once, then after pauses that double up to 8 s: a dozen looks, not sixty
    assert farm.clock.slept[:5] == [0.5, 1.0, 2.0, 4.0, 8.0] and max(farm.clock.slept) == 8.0
    assert link.finds <= 10


def test_a_phone_away_longer_than_the_reconnect_wait_fails_its_jobs_with_the_setting(
        db_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FARM_DEVICE_RECONNECT", "20")
    farm = _farm(tmp_path)
    _lost_for(farm, away_s=25.0)
    (outcome,) = farm.execute()
    assert (outcome.status, outcome.error_kind) == ("failed", "device_lost")
    assert "not back within 20 s" in (outcome.error_message or "")
    assert 20.0 <= farm.clock() < 25.0
    (job,) = farm.jobs()
    assert [s.status for s in job.sessions] == ["ok"]  # the session measured before is kept


def test_a_phone_that_never_returns_fails_its_jobs_and_keeps_what_was_measured(
        db_env: dict[str, str], tmp_path: Path) -> None:
    farm = _farm(tmp_path, threads=(1, 2))
    calls = []

    def unplug_after_one(command: str) -> float:
        calls.append(command)
        if len(calls) == 2:
            farm.links[SERIAL].online = False
            raise DeviceLost("SCRIPTED1: connection lost")
        return 20.0

    farm.state.latency_ms = unplug_after_one
    outcomes = farm.execute()
    assert {(o.status, o.error_kind) for o in outcomes} == {("failed", "device_lost")}
    assert "gave up after" in (outcomes[0].error_message or "")
    assert sum(len(job.sessions) for job in farm.jobs()) == 1  # the one measured is kept


def test_a_phone_without_a_tool_fails_every_job_with_the_fix(db_env: dict[str, str],
                                                             tmp_path: Path) -> None:
    farm = _farm(tmp_path, threads=(1, 2), tool=False)
    outcomes = farm.execute()
    assert {o.error_kind for o in outcomes} == {"tool"}
    assert "farm tools add" in (outcomes[0].error_message or "")
    assert farm.phone.commands("push") == []


def test_a_failing_session_ends_its_job_and_the_others_go_on(db_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    farm = _farm(tmp_path, threads=(1, 2))
    farm.phone.on(r"--num_threads=2", ShellResult(
        "ERROR: Failed to apply XNNPACK delegate.\nERROR: Benchmarking failed.\n", "", 1))
    one, two = farm.execute()
    assert (one.status, two.status) == ("done", "failed")
    assert two.error_kind == "delegate_failed"
    assert [len(job.sessions) for job in farm.jobs()] == [3, 1]  # no point repeating a failure


def test_a_crash_in_the_pipeline_leaves_no_job_running(db_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    farm = _farm(tmp_path)

    def crash_on_second(_command: str, seen: list[int] = []) -> float:  # noqa: B006 (a counter)
        seen.append(1)
        if len(seen) == 2:
            raise RuntimeError("a bug")
        return 20.0

    farm.state.latency_ms = crash_on_second
    with pytest.raises(RuntimeError, match="a bug"):
        farm.execute()
    (job,) = farm.jobs()
    assert job.status == "pending" and [s.status for s in job.sessions] == ["ok"]
    farm.state.latency_ms = lambda _command: 20.0
    assert farm.execute()[0].status == "done"  # and it resumes


def test_a_lost_lease_stops_every_write(db_env: dict[str, str], tmp_path: Path) -> None:
    farm = _farm(tmp_path)
    writes: list[int] = []

    def before_write() -> None:
        writes.append(1)
        if len(writes) > 1:
            raise LeaseLost("taken over")

    with pytest.raises(LeaseLost):
        farm.execute(before_write=before_write)
    (job,) = farm.jobs()
    # one session stored; then nothing, not even the release: the jobs are the new holder's
    assert len(job.sessions) == 1 and job.status == "running"


def test_a_stop_keeps_finished_work_and_leaves_the_rest_pending(db_env: dict[str, str],
                                                                tmp_path: Path) -> None:
    farm = _farm(tmp_path, repeats=1, threads=(1, 2, 3))
    done: list[str] = []
    outcomes = farm.execute(progress=lambda job_id, _n, _total: done.append(job_id),
                            should_stop=lambda: len(done) >= 1)
    assert sorted(o.status for o in outcomes) == ["done", "pending", "pending"]
