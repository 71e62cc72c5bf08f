"""Faults of the distributed farm: a worker killed mid-job, a broker restart mid-run, a task
delivered twice, a phone unplugged mid-run. Each must end with every job recorded exactly once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from farm.distributed.celery_app import celery_app, device_queue
from orchestrator.config import load_settings
from orchestrator.schema import Device
from orchestrator.storage import session_scope
from tests.distributed.conftest import (
    WorkerProcess,
    run_jobs,
    run_status,
    sessions_stored,
    wait_for,
)
from tests.support.cli import farm
from tests.support.redis import RedisServer
from tests.support.virtual_phones import ConnectedPhone

pytestmark = pytest.mark.slow


def _submit(env: dict[str, str], repeats: int, threads: str = "1,2") -> str:
    result = farm("submit", "--models", "builtin-stylizer", "--threads", threads, "--delegates",
                  "xnnpack", "--repeats", str(repeats), "--no-report", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("run ", 1)[1].split()[0]


def _finished(run_id: str) -> bool:
    return run_status(run_id) in ("done", "failed", "cancelled")


def _assert_exactly_once(run_id: str, repeats: int) -> None:
    for job in run_jobs(run_id):
        assert job.status == "done", (job.status, job.error_kind, job.error_message)
        assert sorted(s.repeat_index for s in job.sessions) == list(range(repeats))
        assert all(s.status == "ok" for s in job.sessions)


def _no_overlap(run_id: str) -> None:
    spans = sorted((s.started_at, s.finished_at) for j in run_jobs(run_id) for s in j.sessions)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans


def test_worker_killed_mid_job_completes_exactly_once_after_restart(
        dist_env: dict[str, str], phone_factory: Callable[..., ConnectedPhone],
        start_worker: Callable[..., WorkerProcess]) -> None:
    serial = phone_factory(serial="FARMK0001").phone.device_serial
    worker = start_worker("host-a", [serial])
    run_id = _submit(dist_env, repeats=3)
    wait_for(lambda: sessions_stored(run_id) >= 2, 120, "two sessions")
    worker.kill_all()  # supervisor and consumer at once: the host crashed
    before = {s.id for job in run_jobs(run_id) for s in job.sessions}
    assert 2 <= len(before) < 6 and run_status(run_id) == "running"

    start_worker("host-a", [serial])
    # The unacknowledged delivery comes back after the visibility timeout; the dead task's lease
    # has expired by then.
    wait_for(lambda: _finished(run_id), 180, "the run to finish")
    assert run_status(run_id) == "done"
    _assert_exactly_once(run_id, 3)
    jobs = run_jobs(run_id)
    assert before <= {s.id for job in jobs for s in job.sessions}  # nothing measured twice
    assert max(job.attempts for job in jobs) == 2
    _no_overlap(run_id)


def test_broker_restart_mid_run_loses_no_job(
        dist_env: dict[str, str], redis: RedisServer, phone_factory: Callable[..., ConnectedPhone],
        start_worker: Callable[..., WorkerProcess]) -> None:
    serials = [phone_factory(serial=f"FARMR000{i}").phone.device_serial for i in (1, 2)]
    worker = start_worker("host-a", serials)
    run_id = _submit(dist_env, repeats=3)
    wait_for(lambda: sessions_stored(run_id) >= 1, 120, "a first session")
    assert sessions_stored(run_id) < 12
    redis.restart(down_s=1.0)
    wait_for(lambda: _finished(run_id), 180, "the run to finish")
    assert run_status(run_id) == "done"
    _assert_exactly_once(run_id, 3)
    assert {job.device.serial for job in run_jobs(run_id)} == set(serials)
    # The consumers reconnected: a run submitted after the restart is served too.
    later = _submit(dist_env, repeats=1, threads="1")
    wait_for(lambda: _finished(later), 120, "the second run to finish")
    _assert_exactly_once(later, 1)
    print(worker.output())


def test_a_task_delivered_twice_runs_once(
        dist_env: dict[str, str], phone_factory: Callable[..., ConnectedPhone],
        start_worker: Callable[..., WorkerProcess]) -> None:
    serial = phone_factory(serial="FARMD0001").phone.device_serial
    # Two workers both believe they own the phone: each consumes its queue.
    first, second = start_worker("host-a", [serial]), start_worker("host-b", [serial])
    run_id = _submit(dist_env, repeats=3, threads="1")
    job = run_jobs(run_id)[0]
    settings = load_settings()
    celery_app(settings).send_task(
        "farm.run_device_jobs", args=[run_id, serial, [job.id], 7], queue=device_queue(serial),
        task_id=job.task_id)
    wait_for(lambda: _finished(run_id), 180, "the run to finish")
    _assert_exactly_once(run_id, 3)
    _no_overlap(run_id)
    logs = first.output() + second.output()
    assert "is leased by" in logs, logs[-3000:]


def test_phone_unplugged_from_one_worker_mid_run(
        dist_env: dict[str, str], phone_factory: Callable[..., ConnectedPhone],
        start_worker: Callable[..., WorkerProcess]) -> None:
    doomed, kept, other = (phone_factory(serial=s) for s in ("FARMU0001", "FARMU0002", "FARMU0003"))
    start_worker("host-a", [doomed.phone.device_serial, kept.phone.device_serial])
    start_worker("host-b", [other.phone.device_serial])
    run_id = _submit(dist_env, repeats=3)

    def doomed_started() -> bool:
        return any(job.sessions for job in run_jobs(run_id)
                   if job.device.serial == doomed.phone.device_serial)

    wait_for(doomed_started, 120, "a session on the doomed phone")
    doomed.phone.stop()  # unplugged for good
    wait_for(lambda: _finished(run_id), 180, "the run to finish")
    assert run_status(run_id) == "done"
    for job in run_jobs(run_id):
        if job.device.serial == doomed.phone.device_serial:
            assert job.status == "failed" and job.error_kind == "device_lost", job.error_message
        else:
            assert job.status == "done" and len(job.sessions) == 3, job.error_message
    with session_scope(load_settings()) as db:
        wait_for(lambda: _state(db, doomed.phone.device_serial) == "disconnected", 30,
                 "the worker to notice the phone is gone")


def _state(db: object, serial: str) -> str:
    from sqlalchemy.orm import Session

    assert isinstance(db, Session)
    db.expire_all()
    return db.scalars(select(Device.state).where(Device.serial == serial)).one()
