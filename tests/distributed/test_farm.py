"""The distributed farm end to end: `farm submit` through Redis to two `farm worker` processes with
separate virtual phones, results in PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable

import pytest

from tests.distributed.conftest import WorkerProcess, run_jobs, run_status, wait_for
from tests.support.cli import farm
from tests.support.virtual_phones import ConnectedPhone

pytestmark = pytest.mark.slow

SUBMIT = ("submit", "--models", "builtin-stylizer", "--threads", "1", "--delegates", "xnnpack",
          "--no-report")


def _run_id(stdout: str) -> str:
    return stdout.split("run ", 1)[1].split()[0]


def test_submission_spreads_across_two_workers(
        dist_env: dict[str, str], phone_factory: Callable[..., ConnectedPhone],
        start_worker: Callable[..., WorkerProcess]) -> None:
    a1, a2, b1 = (phone_factory(profile=profile, serial=serial) for profile, serial in
                  (("pixel-7", "FARMA0001"), ("galaxy-s21", "FARMA0002"), ("pixel-7", "FARMB0001")))
    start_worker("host-a", [a1.phone.device_serial, a2.phone.device_serial])
    start_worker("host-b", [b1.phone.device_serial])

    result = farm(*SUBMIT, "--threads", "1,2", "--repeats", "2", "--wait", env=dist_env,
                  timeout=300)
    assert result.returncode == 0, result.stderr
    run_id = _run_id(result.stdout)
    assert f"run {run_id}: done" in result.stdout

    jobs = run_jobs(run_id)
    hosts = {job.device.serial: job.device.host for job in jobs}
    assert hosts == {a1.phone.device_serial: "host-a", a2.phone.device_serial: "host-a",
                     b1.phone.device_serial: "host-b"}
    assert len(jobs) == 6
    for job in jobs:
        assert job.status == "done", job.error_message
        assert sorted(s.repeat_index for s in job.sessions) == [0, 1]
        assert all(s.status == "ok" and s.inference_avg_ms > 0 for s in job.sessions)
        assert job.attempts == 1
        assert job.task_id
    # one task per device, and each device's sessions strictly one after another
    assert len({job.task_id for job in jobs}) == 3
    for serial in hosts:
        spans = sorted((s.started_at, s.finished_at) for j in jobs if j.device.serial == serial
                       for s in j.sessions)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    # the results are in PostgreSQL, where any machine of the farm reads them
    assert dist_env["FARM_DATABASE_URL"].startswith("postgresql")
    rows = json.loads(farm("results", run_id, "-f", "json", env=dist_env).stdout)
    assert len(rows) == 6 and {r["status"] for r in rows} == {"done"}
    watched = farm("watch", run_id, env=dist_env, timeout=60)
    assert watched.returncode == 0 and f"run {run_id}: done, 6 done, 0 failed" in watched.stdout


def test_submit_without_live_workers_is_refused(dist_env: dict[str, str]) -> None:
    result = farm(*SUBMIT, env=dist_env)
    assert result.returncode == 2
    assert "no worker has registered a live device" in result.stderr
    assert "farm worker" in result.stderr


def test_cancel_revokes_what_has_not_started(
        dist_env: dict[str, str], phone_factory: Callable[..., ConnectedPhone],
        start_worker: Callable[..., WorkerProcess]) -> None:
    phone = phone_factory()
    worker = start_worker("host-a", [phone.phone.device_serial])
    worker.stop()  # the phone stays registered (its heartbeat is recent) but nobody consumes
    queued = farm(*SUBMIT, "--repeats", "2", env=dist_env)
    assert queued.returncode == 0, queued.stderr
    run_id = _run_id(queued.stdout)
    assert run_status(run_id) == "queued"

    cancelled = farm("cancel", run_id, env=dist_env)
    assert cancelled.returncode == 0, cancelled.stderr
    start_worker("host-a", [phone.phone.device_serial])
    # The worker takes the message off the queue and finds nothing to run.
    wait_for(lambda: not _queue_length(dist_env, phone.phone.device_serial), 30,
             "the queue to drain")
    jobs = run_jobs(run_id)
    assert run_status(run_id) == "cancelled"
    assert [(j.status, len(j.sessions)) for j in jobs] == [("cancelled", 0)]
    again = farm("cancel", run_id, env=dist_env)
    assert again.returncode == 2 and "already cancelled" in again.stderr
    # a cancelled run is not a success, for scripts following it
    watched = farm("watch", run_id, env=dist_env, timeout=60)
    assert watched.returncode == 1 and "1 cancelled" in watched.stdout, watched.stdout


def _queue_length(env: dict[str, str], serial: str) -> int:
    import redis

    client = redis.Redis.from_url(env["FARM_BROKER_URL"])
    return int(client.llen(f"device.{serial}")) + int(client.hlen("unacked"))


def test_worker_follows_hot_plug_and_restarts_a_dead_consumer(
        dist_env: dict[str, str], phone_factory: Callable[..., ConnectedPhone],
        start_worker: Callable[..., WorkerProcess]) -> None:
    first = phone_factory(serial="FARMH0001")
    worker = start_worker("host-a", ["FARMH0001", "FARMH0002"], online=["FARMH0001"])
    [consumer] = worker.consumer_pids()
    phone_factory(serial="FARMH0002")  # plugged in while the worker runs
    wait_for(lambda: len(worker.consumer_pids()) == 2, 30, "a consumer for the new phone")
    os.kill(consumer, signal.SIGKILL)
    wait_for(lambda: consumer not in worker.consumer_pids() and len(worker.consumer_pids()) == 2,
             30, "the dead consumer to be replaced")
    assert "exited with -9; restarting" in worker.output()

    result = farm(*SUBMIT, "--repeats", "1", "--wait", env=dist_env, timeout=300)
    assert result.returncode == 0, result.stderr
    jobs = run_jobs(_run_id(result.stdout))
    assert sorted((j.device.serial, j.status) for j in jobs) == [("FARMH0001", "done"),
                                                                  ("FARMH0002", "done")]
    first.phone.stop()  # unplugged: its consumer stops, the phone is no longer live
    wait_for(lambda: len(worker.consumer_pids()) == 1, 60, "the consumer of the gone phone to stop")
    refused = farm(*SUBMIT, "--devices", "FARMH0001", env=dist_env)
    assert refused.returncode == 2 and "has no live worker" in refused.stderr
