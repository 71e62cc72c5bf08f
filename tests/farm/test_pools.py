"""Pool submissions on the embedded executor, on scripted phones and both databases: each job once,
on whichever phone is free, longest first; a hot phone leaves the work to cooler ones; a lost phone's
job finishes elsewhere. (The same on virtual phones and real workers: tests/distributed/test_pools.py.)
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from farm.executors import EmbeddedExecutor
from orchestrator.config import load_settings
from orchestrator.errors import DeviceLost, PlanError
from orchestrator.jobspec import JobSpec
from orchestrator.planning import Submission
from orchestrator.scheduling import size_estimate
from orchestrator.schema import Job, Pool
from orchestrator.storage import session_scope
from tests.support.plans import plan_run, run_jobs, run_status
from tests.support.scripted import PhoneState, phone_runners, register_phones, scripted_phone
from workers.device.protocol import ShellResult
from workers.device.scripted import ScriptedDevice, ScriptedLink

SERIALS = ("P1", "P2", "P3")


@pytest.fixture
def fast_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hot phone re-reads its temperature every 50 ms instead of every 5 s."""
    monkeypatch.setenv("FARM_GATE_POLL", "0.05")


def _plan(tmp_path: Path, serials: tuple[str, ...] = SERIALS, repeats: int = 1,
          threads: tuple[int, ...] = (1, 2, 3, 4), spread_sessions: bool = False) -> str:
    settings = load_settings()
    with session_scope(settings) as db:
        register_phones(db, settings, serials, tmp_path)
        return plan_run(db, Submission(
            models=("builtin-segmenter", "builtin-stylizer"), devices=serials, threads=threads,
            delegates=("xnnpack",), spec=JobSpec.from_settings(settings, repeats=repeats),
            spread="pool", spread_sessions=spread_sessions)).id


def _phones(serials: tuple[str, ...] = SERIALS, session_s: float = 0.05
            ) -> tuple[dict[str, ScriptedDevice], dict[str, PhoneState]]:
    """Scripted phones whose sessions take ``session_s`` (so that every phone gets to take work)."""
    phones, states = {}, {}
    for serial in serials:
        phone, state = scripted_phone(transport=f"t-{serial}")

        def slow(script: str, state: PhoneState = state) -> ShellResult:
            time.sleep(session_s)
            return state.benchmark(script)

        phone.on(r"^timeout ", slow)
        phones[serial], states[serial] = phone, state
    return phones, states


def _set_estimates(run_id: str, seconds: list[float]) -> None:
    with session_scope(load_settings()) as db:
        jobs = db.scalars(select(Job).where(Job.run_id == run_id).order_by(Job.seq))
        for job, value in zip(jobs, seconds, strict=True):
            job.estimate_s = value


def test_a_pool_runs_each_job_once_on_one_of_its_phones(db_env: dict[str, str],
                                                        tmp_path: Path) -> None:
    run_id = _plan(tmp_path, repeats=2)
    jobs = run_jobs(run_id)
    # Planned once per config, with no phone yet, in a pool named by what --devices said.
    assert len(jobs) == 8 and all(j.device_id is None and j.pool_id for j in jobs)
    with session_scope(load_settings()) as db:
        (pool,) = db.scalars(select(Pool))
        assert (pool.members, pool.selector) == (list(SERIALS), "P1,P2,P3")
    phones, _states = _phones()
    EmbeddedExecutor(load_settings(), runners=phone_runners(phones)).start(run_id)
    assert run_status(run_id) == "done"
    jobs = run_jobs(run_id)
    assert all(j.status == "done" and j.device is not None for j in jobs)
    # Each job's sessions on its one phone; every phone took a share.
    assert all(len(j.sessions) == 2 for j in jobs)
    shares = Counter(j.device.serial for j in jobs if j.device)
    assert set(shares) == set(SERIALS) and sum(shares.values()) == 8


def test_a_pool_takes_its_jobs_longest_first(db_env: dict[str, str], tmp_path: Path) -> None:
    run_id = _plan(tmp_path, serials=("P1",))
    _set_estimates(run_id, [3.0, 8.0, 1.0, 5.0, 2.0, 7.0, 4.0, 6.0])
    phones, _states = _phones(("P1",), session_s=0)
    EmbeddedExecutor(load_settings(), runners=phone_runners(phones)).start(run_id)
    order = sorted(run_jobs(run_id), key=lambda j: j.sessions[0].started_at)
    assert [j.estimate_s for j in order] == [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]


def test_the_estimate_comes_from_the_phone_kinds_history(db_env: dict[str, str],
                                                         tmp_path: Path) -> None:
    first = _plan(tmp_path, serials=("P1",), threads=(1,))
    sizes = {j.model.name: j.estimate_s for j in run_jobs(first)}
    # Without history: from the model's size and the protocol.
    assert all(j.estimate_s == size_estimate(j.model.size_bytes, j.spec)
               for j in run_jobs(first) if j.spec)
    phones, _states = _phones(("P1",), session_s=0.3)
    EmbeddedExecutor(load_settings(), runners=phone_runners(phones)).start(first)
    second = _plan(tmp_path, serials=("P1",), threads=(1,), repeats=3)
    for job in run_jobs(second):
        # Now: three times the recorded session of the same model and config on this phone kind.
        (earlier,) = [j for j in run_jobs(first) if j.model_id == job.model_id]
        (session,) = earlier.sessions
        assert session.started_at and session.finished_at
        recorded = (session.finished_at - session.started_at).total_seconds()
        assert job.estimate_s == pytest.approx(3 * recorded, rel=1e-6)
        assert job.estimate_s != sizes[job.model.name]


def test_a_hot_phone_leaves_the_work_to_cooler_ones_and_takes_it_again_when_cool(
        db_env: dict[str, str], tmp_path: Path, fast_gate: None) -> None:
    run_id = _plan(tmp_path)
    phones, states = _phones(session_s=0.1)
    states["P3"].temp_c = 45.0  # above the gate's 37 C
    cooled: list[float] = []

    def cool_down_after_three_jobs() -> None:
        while True:
            with session_scope(load_settings()) as db:
                done = db.scalars(select(Job).where(Job.run_id == run_id,
                                                    Job.status == "done")).all()
            if len(done) >= 3:
                cooled.append(time.time())
                states["P3"].temp_c = 30.0
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=cool_down_after_three_jobs)
    watcher.start()
    EmbeddedExecutor(load_settings(), runners=phone_runners(phones)).start(run_id)
    watcher.join()
    jobs = run_jobs(run_id)
    assert all(j.status == "done" for j in jobs)
    on_p3 = [j for j in jobs if j.device and j.device.serial == "P3"]
    # Nothing while it was hot; its share once it was cool (the others took the rest).
    assert on_p3, "the phone took no work after it cooled down"
    assert all(j.sessions[0].started_at.timestamp() >= cooled[0] - 0.05 for j in on_p3)
    # Its sessions never waited at the gate: it took work only when it was under the limit.
    assert all(j.sessions[0].environment["gate"]["waited_s"] == 0 for j in on_p3)


def test_a_phone_lost_mid_pool_hands_its_job_to_another_phone(db_env: dict[str, str],
                                                              tmp_path: Path) -> None:
    run_id = _plan(tmp_path, repeats=2, threads=(1, 2))
    phones, states = _phones(session_s=0.05)
    links: dict[str, ScriptedLink] = {}
    calls: list[str] = []
    lost = threading.Event()

    def unplug_on_second_session(script: str) -> ShellResult:
        calls.append(script)
        if len(calls) == 2:  # the job's first session is stored; then the phone is gone
            links["P1"].online = False
            lost.set()
            raise DeviceLost("P1: connection lost")
        time.sleep(0.05)
        return states["P1"].benchmark(script)

    phones["P1"].on(r"^timeout ", unplug_on_second_session)
    settings = load_settings()
    EmbeddedExecutor(settings, runners=phone_runners(phones, links)).start(run_id)
    assert lost.is_set() and run_status(run_id) == "done"
    jobs = run_jobs(run_id)
    (moved,) = [j for j in jobs if j.status == "moved"]
    # The lost phone's session is kept, with it and its phone; the rest ran elsewhere, once.
    assert moved.device and moved.device.serial == "P1"
    assert [s.status for s in moved.sessions] == ["ok"] and moved.value_ms is not None
    (successor,) = [j for j in jobs if j.id != moved.id and (j.model_id, j.num_threads)
                    == (moved.model_id, moved.num_threads)]
    assert successor.status == "done" and successor.device and successor.device.serial != "P1"
    assert len(successor.sessions) == 1 and successor.spec and successor.spec.repeats == 1
    assert successor.id[:12] in (moved.error_message or "")
    others = [j for j in jobs if j.id not in (moved.id, successor.id)]
    assert all(j.status == "done" and len(j.sessions) == 2 for j in others)


def test_spread_sessions_plans_each_session_as_a_job_of_its_own(db_env: dict[str, str],
                                                                tmp_path: Path) -> None:
    run_id = _plan(tmp_path, repeats=3, threads=(1,), spread_sessions=True)
    jobs = run_jobs(run_id)
    assert len(jobs) == 6 and all(j.spec and j.spec.repeats == 1 for j in jobs)
    phones, _states = _phones(session_s=0.1)
    EmbeddedExecutor(load_settings(), runners=phone_runners(phones)).start(run_id)
    jobs = run_jobs(run_id)
    assert all(j.status == "done" and len(j.sessions) == 1 for j in jobs)
    assert len({j.device.serial for j in jobs if j.device}) > 1


def test_spread_sessions_needs_a_pool() -> None:
    with pytest.raises(PlanError, match="--spread-sessions"):
        Submission(spread_sessions=True)


def test_a_lost_phones_job_is_not_stranded_when_the_others_have_run_out_of_work(
        db_env: dict[str, str], tmp_path: Path) -> None:
    run_id = _plan(tmp_path, serials=("P1", "P2"), repeats=2, threads=(1,))
    phones, states = _phones(("P1", "P2"), session_s=0.02)
    links: dict[str, ScriptedLink] = {}
    calls: list[str] = []

    def lost_late(script: str) -> ShellResult:
        calls.append(script)
        if len(calls) == 2:  # long after P2 has finished its own job and found the queue empty
            time.sleep(1.0)
            links["P1"].online = False
            raise DeviceLost("P1: connection lost")
        return states["P1"].benchmark(script)

    phones["P1"].on(r"^timeout ", lost_late)
    EmbeddedExecutor(load_settings(), runners=phone_runners(phones, links)).start(run_id)
    assert run_status(run_id) == "done"
    moved = [j for j in run_jobs(run_id) if j.status == "moved"]
    assert len(moved) == 1 and moved[0].device and moved[0].device.serial == "P1"
    done = [j for j in run_jobs(run_id) if j.status == "done"]
    assert len(done) == 2 and all(j.device and j.device.serial == "P2" for j in done)


def test_a_pool_whose_every_phone_is_lost_fails_what_is_left_with_the_fix(
        db_env: dict[str, str], tmp_path: Path) -> None:
    run_id = _plan(tmp_path, serials=("P1",), threads=(1, 2))
    phones, _states = _phones(("P1",))
    links: dict[str, ScriptedLink] = {}

    def unplug(_script: str) -> ShellResult:
        links["P1"].online = False
        raise DeviceLost("P1: connection lost")

    phones["P1"].on(r"^timeout ", unplug)
    EmbeddedExecutor(load_settings(), runners=phone_runners(phones, links)).start(run_id)
    jobs = run_jobs(run_id)
    assert run_status(run_id) == "failed"
    assert {(j.status, j.error_kind) for j in jobs} == {("failed", "device_lost")}
    assert any("no phone of pool P1 is left" in (j.error_message or "") for j in jobs)
