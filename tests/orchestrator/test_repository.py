"""The repository's rules, each written once (``orchestrator.repository``), on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from models.builtin import register_builtin_models
from orchestrator import repository
from orchestrator.config import load_settings
from orchestrator.errors import PlanError
from orchestrator.jobspec import JobSpec
from orchestrator.planning import Submission
from orchestrator.repository import ScannedDevice
from orchestrator.results import ParsedRun, Provenance, SessionRecord
from orchestrator.schema import Device, Job, Run, Session, Tool, utcnow
from orchestrator.storage import session_scope
from tests.support.plans import plan_run
from tests.support.scripted import device_record


def _record(avg_ms: float | None = 20.0, status: str = "ok") -> SessionRecord:
    parsed = ParsedRun(status="ok" if status == "ok" else "failed", inference_avg_ms=avg_ms)
    record = SessionRecord.from_parse(parsed, "raw text", Provenance(model_sha256="a" * 64,
                                                                     tool_name="t"),
                                      environment={"temp_before_c": 31.5, "temp_after_c": 33.0})
    return record if status == "ok" else SessionRecord(
        parsed=parsed, raw_output="raw", provenance=record.provenance, status=status,
        error_kind="crash", error_message="it died")


@pytest.fixture
def db(db_env: dict[str, str]) -> Iterator[DbSession]:
    """One unit of work with the built-ins, two phones and a run of four jobs on the first."""
    with session_scope(load_settings()) as session:
        register_builtin_models(session, load_settings())
        repository.upsert_device(session, device_record("P1"))
        repository.upsert_device(session, device_record("P2"))
        yield session


def _run(db: DbSession, devices: tuple[str, ...] = ("P1",), repeats: int = 3) -> Run:
    return plan_run(db, Submission(models=("builtin-segmenter", "builtin-stylizer"), devices=devices,
                                   threads=(1, 2), delegates=("xnnpack",),
                                   spec=JobSpec.from_settings(load_settings(), repeats=repeats)))


@pytest.mark.parametrize(("values", "median"), [
    ([10.0, 30.0, 11.0], 11.0),  # odd: a mean would say 17
    ([10.0, 30.0], 20.0),
    ([None, 5.0, None, 7.0, 9.0], 7.0),
    ([], None),
    ([None], None),
])
def test_a_jobs_value_is_the_median_of_the_values_it_has(values: list[float | None],
                                                          median: float | None) -> None:
    assert repository.job_value(values) == median


def test_save_session_stores_the_record_and_the_tool_in_one_row(db: DbSession) -> None:
    job = _run(db).jobs[0]
    tool = Tool(name="t", version="1", sha256="b" * 64, abi="arm64-v8a", path="/t")
    db.add(tool)
    db.flush()
    row = repository.save_session(db, job.id, 0, _record(12.5), tool_id=tool.id)
    assert (row.status, row.inference_avg_ms, row.raw_output) == ("ok", 12.5, "raw text")
    assert (row.temp_before_c, row.temp_after_c, row.model_sha256) == (31.5, 33.0, "a" * 64)
    assert db.get(Job, job.id).tool_id == tool.id  # type: ignore[union-attr]
    assert db.scalar(select(Session.id).where(Session.job_id == job.id)) == row.id


def test_finish_job_takes_ok_sessions_only(db: DbSession) -> None:
    job = _run(db).jobs[0]
    for index, (value, status) in enumerate([(10.0, "ok"), (99.0, "failed"), (12.0, "ok"),
                                             (14.0, "ok")]):
        repository.save_session(db, job.id, index, _record(value, status))
    outcome = repository.finish_job(db, job.id)
    assert (outcome.status, outcome.value_ms, outcome.error_kind) == ("done", 12.0, None)
    failed = repository.finish_job(db, job.id, ("device_lost", "gone"))
    assert (failed.status, failed.error_kind, failed.error_message) == ("failed", "device_lost", "gone")
    assert db.get(Job, job.id).finished_at is not None  # type: ignore[union-attr]


def test_start_jobs_says_what_is_left_and_drops_broken_sessions(db: DbSession) -> None:
    run = _run(db)
    first, second = run.jobs[0], run.jobs[1]
    repository.save_session(db, first.id, 0, _record())
    repository.save_session(db, first.id, 1, _record(status="incomplete"))
    second.status = "done"
    device, work = repository.start_jobs(db, [first.id, second.id])
    assert device is not None and device.serial == "P1" and device.kind == "adb"
    (item,) = work  # the finished job is not started again
    assert (item.job_id, item.missing, item.done) == (first.id, (1, 2), 1)
    assert item.label == f"{first.model.name} xnnpack x1"
    db.refresh(first)
    assert first.status == "running" and first.attempts == 1
    assert [s.repeat_index for s in first.sessions] == [0]
    repository.start_jobs(db, [first.id])
    db.refresh(first)
    assert first.attempts == 2


def test_a_batch_belongs_to_one_device(db: DbSession) -> None:
    run = _run(db, devices=("P1", "P2"))
    by_device = {job.device.serial: job.id for job in run.jobs}
    with pytest.raises(RuntimeError, match="one device"):
        repository.start_jobs(db, [by_device["P1"], by_device["P2"]])


def test_release_puts_running_jobs_back_but_not_cancelled_ones(db: DbSession) -> None:
    run = _run(db)
    running, cancelled = run.jobs[0], run.jobs[1]
    running.status, cancelled.status = "running", "cancelled"
    repository.release_jobs(db, [running.id, cancelled.id])
    assert (running.status, cancelled.status) == ("pending", "cancelled")


@pytest.mark.parametrize(("statuses", "stopped", "settled"), [
    (["done", "done", "skipped", "failed"], False, "done"),
    (["failed", "skipped", "failed", "failed"], False, "failed"),
    (["done", "pending", "done", "done"], False, "running"),  # not yet: someone is still at it
    (["done", "pending", "done", "running"], True, "cancelled"),
    (["done", "done", "done", "done"], True, "done"),  # stopped, but nothing was left
])
def test_settle_run(db: DbSession, statuses: list[str], stopped: bool, settled: str) -> None:
    run = _run(db)
    run.status = "running"
    for job, status in zip(run.jobs, statuses, strict=True):
        job.status = status
    assert repository.settle_run(db, run.id, stopped=stopped) == settled
    assert (run.finished_at is not None) == (settled != "running")


def test_a_cancelled_run_stays_cancelled_when_its_last_job_ends(db: DbSession) -> None:
    run = _run(db)
    run.jobs[0].task_id = run.jobs[1].task_id = "task-1"
    run.jobs[2].task_id = "task-2"
    run.jobs[3].status = "done"
    assert repository.cancel_run(db, run.id) == ["task-1", "task-2"]
    assert [j.status for j in run.jobs] == ["cancelled"] * 3 + ["done"]
    assert run.jobs[0].error_kind == "cancelled"
    assert repository.settle_run(db, run.id) == "cancelled"
    with pytest.raises(PlanError, match="already cancelled"):
        repository.cancel_run(db, run.id)


def test_unfinished_jobs_per_device_in_plan_order(db: DbSession) -> None:
    run = _run(db, devices=("P1", "P2"), repeats=2)
    run.jobs[0].status = "done"
    work = repository.unfinished_jobs(db, run.id)
    assert set(work) == {"P1", "P2"}
    assert [p.job_id for p in work["P1"]] == [j.id for j in run.jobs[1:4]]
    assert {p.planned for items in work.values() for p in items} == {2}
    repository.record_task(db, [p.job_id for p in work["P2"]], "t-9")
    assert {j.task_id for j in run.jobs if j.device.serial == "P2"} == {"t-9"}


def test_a_scan_records_what_the_adb_server_lists(db: DbSession) -> None:
    before = db.scalars(select(Device).where(Device.serial == "P2")).one()
    before.last_seen = utcnow() - timedelta(days=1)
    found = repository.record_scan(db, [
        ScannedDevice("usb-1", "device", device_record("P1")),
        ScannedDevice("10.0.0.9:5555", "unauthorized"),
    ])
    assert found.online == ["P1"]
    (problem,) = found.problems
    assert "10.0.0.9:5555" in problem and "unauthorized" in problem and "accept" in problem
    states = {d.serial: d.state for d in db.scalars(select(Device))}
    assert states["P2"] == "disconnected" and states["10.0.0.9:5555"] == "unauthorized"
    assert states["P1"] == "device"


def test_tools_for_a_phone_primary_abi_first_newest_first(db: DbSession, tmp_path: Path) -> None:
    old = repository.ensure_tool(db, name="bm", version="1", sha256="1" * 64, abi="arm64-v8a",
                                 path="/a")
    db.get(Tool, old.id).created_at = utcnow() - timedelta(days=1)  # type: ignore[union-attr]
    new = repository.ensure_tool(db, name="bm", version="2", sha256="2" * 64, abi="arm64-v8a",
                                 path="/b")
    v7 = repository.ensure_tool(db, name="bm", version="3", sha256="3" * 64, abi="armeabi-v7a",
                                path="/c")
    assert [t.id for t in repository.tools_for_abis(db, ["arm64-v8a", "armeabi-v7a"])] == [
        new.id, old.id, v7.id]
    assert [t.id for t in repository.tools_for_abis(db, ["armeabi-v7a"])] == [v7.id]
    assert repository.ensure_tool(db, name="bm", version="2", sha256="2" * 64, abi="arm64-v8a",
                                  path="/b").id == new.id
