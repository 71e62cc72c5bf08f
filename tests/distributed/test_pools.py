"""Pool submissions through Redis to real `farm worker` processes with virtual phones, results in
PostgreSQL: one queue per pool, consumed by the single slot of every phone in it; each job once,
longest first; a hot phone leaves the work to cooler ones; an unplugged phone's job finishes
elsewhere."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from farm.distributed import tasks
from farm.distributed.lease import DeviceLease
from models.builtin import register_builtin_models
from orchestrator import repository
from orchestrator.config import load_settings
from orchestrator.jobspec import JobSpec
from orchestrator.planning import Submission
from orchestrator.repository import upsert_device
from orchestrator.schema import Device, Job, Model, Run, Session, utcnow
from orchestrator.storage import session_scope
from tests.distributed.conftest import WorkerProcess, run_jobs, run_status, wait_for
from tests.support.cli import farm
from tests.support.plans import plan_run
from tests.support.redis import RedisServer
from tests.support.scripted import device_record
from tests.support.virtual_phones import ConnectedPhone

pytestmark = pytest.mark.slow

SERIALS = ("FARMP0001", "FARMP0002", "FARMP0003")
#: 2 models x 3 thread counts: six pool jobs for three phones
POOL = ("submit", "--pool", "--devices", 'model:"Pixel 7"', "--models",
        "builtin-segmenter,builtin-stylizer", "--threads", "1,2,3", "--delegates", "xnnpack",
        "--repeats", "1", "--no-report")


def _run_id(stdout: str) -> str:
    return stdout.split("run ", 1)[1].split()[0]


def _farm_of_three(phone_factory: Callable[..., ConnectedPhone],
                   start_worker: Callable[..., WorkerProcess], faults: str = "",
                   env: dict[str, str] | None = None
                   ) -> tuple[list[ConnectedPhone], WorkerProcess]:
    """Three Pixel 7s: the first two behind worker host-a, the third (with ``faults``) behind
    host-b (returned)."""
    phones = [phone_factory(serial=serial, faults=faults if i == 2 else "")
              for i, serial in enumerate(SERIALS)]
    start_worker("host-a", [p.phone.device_serial for p in phones[:2]], env=env)
    host_b = start_worker("host-b", [phones[2].phone.device_serial], env=env)
    return phones, host_b


def _seed_history(seconds: dict[tuple[str, int], float]) -> None:
    """An earlier run on these phones whose sessions took the given seconds per (model, threads):
    what the pool's longest-first order estimates from."""
    settings = load_settings()
    with session_scope(settings) as db:
        register_builtin_models(db, settings)
        device = db.scalars(select(Device).where(Device.serial == SERIALS[0])).one()
        run = Run(id="history", status="done", trigger="manual")
        db.add(run)
        for seq, ((name, threads), duration) in enumerate(seconds.items()):
            model = db.scalars(select(Model).where(Model.name == name)).one()
            job = Job(id=f"history-{seq}", run=run, seq=seq, device_id=device.id, model=model,
                      delegate="xnnpack", num_threads=threads, status="done")
            start = utcnow() - timedelta(days=1)
            job.sessions.append(Session(repeat_index=0, status="ok", inference_avg_ms=10.0,
                                        started_at=start,
                                        finished_at=start + timedelta(seconds=duration)))
            db.add(job)


def _pool_jobs(run_id: str) -> list[Job]:
    return [job for job in run_jobs(run_id) if job.pool_id is not None]


def test_a_pool_behind_two_workers_runs_each_job_once_longest_first(
        dist_env: dict[str, str], phone_factory: Callable[..., ConnectedPhone],
        start_worker: Callable[..., WorkerProcess]) -> None:
    _farm_of_three(phone_factory, start_worker)
    durations = {(name, threads): 10.0 * rank for rank, (name, threads) in enumerate(
        [(m, t) for m in ("builtin-segmenter", "builtin-stylizer") for t in (1, 2, 3)], start=1)}
    _seed_history(durations)

    result = farm(*POOL, "--wait", env=dist_env, timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    run_id = _run_id(result.stdout)
    jobs = _pool_jobs(run_id)
    assert len(jobs) == 6 and run_status(run_id) == "done"
    for job in jobs:
        # Exactly once: one delivery ran it, one session, on one phone of the pool.
        assert job.status == "done" and job.attempts == 1, job.error_message
        assert [s.status for s in job.sessions] == ["ok"]
        assert job.device is not None and job.device.serial in SERIALS
    shares = Counter(job.device.serial for job in jobs if job.device)
    assert len(shares) >= 2, shares  # spread across the pool's phones
    assert len({job.device.host for job in jobs if job.device}) == 2  # and both workers
    # Longest first. Each phone holds one message at a time from the queue the jobs were sent to
    # longest first, so every phone ran its own jobs in falling estimate order. Which jobs start
    # first across phones depends on when each consumer came up (a slow one on a loaded machine
    # leaves the early jobs to the others: CI once saw the fourth-longest start third), so across
    # phones only the ends are pinned: the longest started before the shortest.
    for serial in shares:
        mine = sorted((job for job in jobs if job.device and job.device.serial == serial),
                      key=lambda job: job.sessions[0].started_at)
        estimates = [job.estimate_s or 0.0 for job in mine]
        assert estimates == sorted(estimates, reverse=True), (serial, estimates)
    longest = sorted(jobs, key=lambda job: -(job.estimate_s or 0))
    assert longest[0].sessions[0].started_at < longest[-1].sessions[0].started_at
    assert longest[0].estimate_s == pytest.approx(60.0, rel=1e-3)


def test_a_hot_phone_takes_no_pool_work_until_it_is_cool(
        dist_env: dict[str, str], phone_factory: Callable[..., ConnectedPhone],
        start_worker: Callable[..., WorkerProcess]) -> None:
    env = dist_env | {"FARM_GATE_POLL": "1"}  # the hot phone reads its temperature every second
    phones, host_b = _farm_of_three(phone_factory, start_worker, faults="overheat", env=env)
    hot = phones[2]
    # Sessions of 2 s or more: work is left when the phone has cooled (about 10 s after the fault
    # is cleared: the thermal model's decay, then the watcher's next reading).
    # Eight jobs of four sessions: about 50 s of work for the two cool phones, whenever the hot
    # one's consumer (slow to start on a loaded machine) first meets the queue.
    result = farm(*POOL, "--threads", "1,2,3,4", "--repeats", "4", "--min-secs", "2", env=env,
                  timeout=120)
    assert result.returncode == 0, result.stderr
    run_id = _run_id(result.stdout)

    def claimed() -> list[Job]:
        return [job for job in _pool_jobs(run_id) if job.device is not None]

    # The hot phone handed a job back while both cool ones were at work; then it cools, with
    # most of the work still to go.
    wait_for(lambda: "is hot; handing job" in host_b.output(), 240, "the hot phone's hand-off")
    wait_for(lambda: len(claimed()) >= 2, 240, "both cool phones at work")
    assert not [j for j in _pool_jobs(run_id) if j.device and j.device.serial == SERIALS[2]]
    hot.phone.clear_faults("overheat")
    cooled = utcnow()
    wait_for(lambda: run_status(run_id) in ("done", "failed"), 300, "the run to finish")
    jobs = _pool_jobs(run_id)
    assert run_status(run_id) == "done" and all(j.status == "done" for j in jobs)
    on_hot = [j for j in jobs if j.device and j.device.serial == SERIALS[2]]
    # It took work once cool, and none before.
    assert on_hot, "the phone took no work after it cooled down"
    for job in on_hot:
        first = min(s.started_at for s in job.sessions if s.started_at)
        assert first.replace(tzinfo=cooled.tzinfo) >= cooled - timedelta(seconds=1)
        gate = job.sessions[0].environment["gate"]
        assert gate["passed"], gate
    assert sum(len(j.sessions) for j in jobs) == 32  # each job's four sessions, once


def test_a_phone_unplugged_mid_pool_run_hands_its_job_to_another(
        dist_env: dict[str, str], phone_factory: Callable[..., ConnectedPhone],
        start_worker: Callable[..., WorkerProcess]) -> None:
    phones, _host_b = _farm_of_three(phone_factory, start_worker)
    doomed = phones[0]
    result = farm(*POOL, "--repeats", "3", env=dist_env, timeout=120)
    assert result.returncode == 0, result.stderr
    run_id = _run_id(result.stdout)

    def doomed_started() -> bool:
        return any(job.sessions for job in _pool_jobs(run_id)
                   if job.device and job.device.serial == SERIALS[0])

    wait_for(doomed_started, 180, "a session on the doomed phone")
    doomed.phone.stop()  # unplugged for good
    stopped = time.monotonic()
    wait_for(lambda: run_status(run_id) in ("done", "failed"), 300, "the run to finish")
    assert run_status(run_id) == "done", [(j.status, j.error_message) for j in _pool_jobs(run_id)]
    jobs = _pool_jobs(run_id)
    configs: dict[tuple[int, int], list[Job]] = {}
    for job in jobs:
        configs.setdefault((job.model_id, job.num_threads), []).append(job)
    assert len(configs) == 6
    for chain in configs.values():
        # Nothing duplicated, nothing lost: each config's three sessions once, across the job the
        # lost phone began (moved, keeping its sessions) and its successor on another phone.
        ok = [s for job in chain for s in job.sessions if s.status == "ok"]
        assert len(ok) == 3, [(j.status, j.error_message, len(j.sessions)) for j in chain]
        assert {j.status for j in chain} <= {"done", "moved"}
        assert sum(j.status == "done" for j in chain) == 1
        for job in chain:
            if job.status == "moved":
                assert job.device and job.device.serial == SERIALS[0]
            if job.status == "done" and job.device and job.device.serial == SERIALS[0]:
                assert all(s.finished_at for s in job.sessions)
    assert time.monotonic() - stopped < 300


def test_a_pool_host_killed_mid_job_has_its_jobs_finished_once_by_the_other(
        dist_env: dict[str, str], phone_factory: Callable[..., ConnectedPhone],
        start_worker: Callable[..., WorkerProcess]) -> None:
    phones = [phone_factory(serial=serial) for serial in SERIALS]
    host_a = start_worker("host-a", [p.phone.device_serial for p in phones[:2]])
    start_worker("host-b", [phones[2].phone.device_serial])
    result = farm(*POOL, "--repeats", "3", env=dist_env, timeout=120)
    assert result.returncode == 0, result.stderr
    run_id = _run_id(result.stdout)

    def host_a_measured() -> bool:
        return any(job.sessions for job in _pool_jobs(run_id)
                   if job.device and job.device.host == "host-a")

    wait_for(host_a_measured, 180, "a session on host-a")
    host_a.kill_all()  # supervisor and consumers at once: the host crashed mid-job
    # Its unacknowledged deliveries come back after the visibility timeout (8 s here), to host-b's
    # phone, which finds the dead phones' leases gone and takes their jobs over.
    wait_for(lambda: run_status(run_id) in ("done", "failed"), 400, "the run to finish")
    assert run_status(run_id) == "done"
    configs: dict[tuple[int, int], list[Job]] = {}
    for job in _pool_jobs(run_id):
        configs.setdefault((job.model_id, job.num_threads), []).append(job)
    assert len(configs) == 6
    for chain in configs.values():
        ok = [s for job in chain for s in job.sessions if s.status == "ok"]
        assert len(ok) == 3, [(j.status, j.error_message, len(j.sessions)) for j in chain]
        assert sum(j.status == "done" for j in chain) == 1
        assert {j.status for j in chain} <= {"done", "moved"}


def test_who_runs_a_redelivered_pool_job(dist_env: dict[str, str], redis: RedisServer) -> None:
    """A delivery of a job another phone claimed: a duplicate while that phone runs it under its
    lease; taken over when it is not running it (released, or its worker died)."""
    settings = load_settings()
    with session_scope(settings) as db:
        register_builtin_models(db, settings)
        for serial in ("P1", "P2"):
            upsert_device(db, device_record(serial))
        run = plan_run(db, Submission(models=("builtin-segmenter",), devices=("P1", "P2"),
                                      threads=(1,), delegates=("xnnpack",), spread="pool",
                                      spec=JobSpec.from_settings(settings, repeats=2)))
        (job,) = run.jobs
        job_id = job.id
        assert repository.claim_job(db, job_id, "P1")
        job.status = "running"
    holder = DeviceLease(redis.client(), "P1", "task-of-P1", 30)
    assert holder.acquire()
    assert tasks._job_to_run(settings, job_id, "P2") is None  # P1 is at it
    assert tasks._job_to_run(settings, job_id, "P1") == job_id  # P1's own redelivery
    holder._lock.release()  # P1's worker died: its lease is gone
    assert tasks._job_to_run(settings, job_id, "P2") == job_id
    with session_scope(settings) as db:
        taken = db.get(Job, job_id)
        assert taken is not None and (taken.device_id, taken.status) == (None, "pending")
        assert repository.claim_job(db, job_id, "P2")
