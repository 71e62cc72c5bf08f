"""The device lease on a real Redis, and the service's ``before_write`` hook that obeys it."""

from __future__ import annotations

import time

import pytest

from farm.distributed.lease import DeviceLease, lease_key
from farm.inventory import ensure_local_device
from models.builtin import register_builtin_models
from orchestrator.config import load_settings
from orchestrator.errors import LeaseLost
from orchestrator.jobspec import JobSpec
from orchestrator.planning import Submission
from orchestrator.schema import Job
from orchestrator.storage import session_scope
from tests.support.cli import farm
from tests.support.plans import plan_run
from tests.support.redis import RedisServer
from workers.service import execute_jobs


def test_one_holder_at_a_time_and_a_taken_over_lease_is_noticed(redis: RedisServer) -> None:
    first = DeviceLease(redis.client(), "P1", "task-a:1", ttl_s=2)
    second = DeviceLease(redis.client(), "P1", "task-a:2", ttl_s=2)  # same task, redelivered
    assert first.acquire() and not second.acquire()
    assert second.holder() == "task-a:1"
    with first:
        time.sleep(2.5)  # longer than the TTL: only the renewal keeps it
        first.check()
        assert not second.acquire()
        redis.client().delete(lease_key("P1"))  # it expired (say, a long pause) ...
        assert second.acquire()  # ... and the redelivered copy took the phone
        with pytest.raises(LeaseLost):
            first.check()
        assert first.lost
    assert second.holder() == "task-a:2"  # the old holder did not release the new one's lease


def test_a_dead_holder_frees_the_phone_within_one_ttl(redis: RedisServer) -> None:
    assert DeviceLease(redis.client(), "P2", "dead", ttl_s=1).acquire()  # never renewed
    late = DeviceLease(redis.client(), "P2", "late", ttl_s=1)
    assert not late.acquire()
    time.sleep(1.2)
    assert late.acquire()


def test_the_lease_outlives_a_short_broker_outage_but_not_a_long_one(redis: RedisServer) -> None:
    lease = DeviceLease(redis.client(), "P3", "t", ttl_s=2)
    assert lease.acquire()
    redis.stop()
    lease.check()  # unreachable, yet nobody can have taken it before it expires
    time.sleep(1.8)
    with pytest.raises(LeaseLost):
        lease.check()
    redis.start()


@pytest.mark.slow
def test_execute_jobs_writes_nothing_once_the_lease_is_lost(farm_db_env: dict[str, str]) -> None:
    settings = load_settings()
    with session_scope(settings) as db:
        ensure_local_device(db)
        register_builtin_models(db, settings)
        run = plan_run(db, Submission(models=("builtin-stylizer",), devices=("local",),
                                           threads=(1,), delegates=("xnnpack",),
                                           spec=JobSpec.from_settings(settings, repeats=3)))
        job_id = run.jobs[0].id
    checks: list[int] = []

    def before_write() -> None:
        checks.append(1)
        if len(checks) > 1:
            raise LeaseLost("the lease on local was taken over")

    with pytest.raises(LeaseLost):
        execute_jobs(settings, [job_id], before_write=before_write)
    with session_scope(settings) as db:
        job = db.get(Job, job_id)
        assert job is not None
        # the lease's new holder finds the job as the lost one left it: one session, running
        assert (job.status, len(job.sessions)) == ("running", 1)
    execute_jobs(settings, [job_id])  # the new holder resumes
    with session_scope(settings) as db:
        job = db.get(Job, job_id)
        assert job is not None
        assert job.status == "done" and job.attempts == 2
        assert sorted(s.repeat_index for s in job.sessions) == [0, 1, 2]


@pytest.mark.slow
def test_distributed_commands_need_a_broker(farm_env: dict[str, str]) -> None:
    for args in (("worker",), ("beat",)):
        result = farm(*args, env=farm_env)
        assert result.returncode == 2 and "FARM_BROKER_URL" in result.stderr
