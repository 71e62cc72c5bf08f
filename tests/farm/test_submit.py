"""`farm submit` end to end on this machine: plan, run, record, summarize, report (both databases)."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import Session as DbSession

from orchestrator.config import load_settings
from orchestrator.schema import Job, Run, Session, utcnow
from tests.support.cli import farm


def _aware(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their time zone; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _db(env: dict[str, str]) -> DbSession:
    settings = load_settings(env)
    return DbSession(create_engine(settings.effective_database_url))


@pytest.mark.slow
def test_submit_runs_records_and_reports(farm_db_env: dict[str, str]) -> None:
    result = farm("submit", "--models", "all", "--threads", "1,2", "--delegates",
                  "xnnpack,cpu,gpu,nnapi", env=farm_db_env)
    assert result.returncode in (0, 1), result.stderr
    run_id = re.search(r"run (\w{8})", result.stdout).group(1)  # type: ignore[union-attr]
    report = Path(re.search(r"report: (\S+)", result.stdout).group(1))  # type: ignore[union-attr]

    with _db(farm_db_env) as db:
        run = db.get(Run, run_id)
        assert run is not None and run.status == "done"
        jobs = {(j.model.name, j.delegate, j.num_threads): j for j in run.jobs}
        # 2 built-in models x (cpu x2 threads, xnnpack x2, gpu x1, nnapi x1)
        assert len(jobs) == 12
        nnapi = jobs[("builtin-segmenter", "nnapi", 2)]
        assert nnapi.status == "skipped" and "Android" in (nnapi.error_message or "")
        gpu = jobs[("builtin-stylizer", "gpu", 2)]
        assert gpu.status in ("done", "failed")  # no GPU here: failed, with the tool's reason
        if gpu.status == "failed":
            assert gpu.error_kind == "delegate_failed" and len(gpu.sessions) == 1
            # an asked-for delegate that failed fails the submission, one line for both models
            assert result.returncode == 1
            assert "failed: 2 job(s), delegate_failed: " in result.stdout
        else:
            assert result.returncode == 0
        # the planned NNAPI skips were asked for: they are listed apart, and exit 0 allows them
        assert "skipped as asked: 2 job(s), unsupported: NNAPI exists only on Android" in (
            result.stdout)
        for key, job in jobs.items():
            if key[1] not in ("cpu", "xnnpack"):
                continue
            assert job.status == "done", (key, job.error_message)
            values = [s.inference_avg_ms for s in job.sessions]
            assert len(values) == 2 and all(v and v > 0 for v in values)
            assert job.value_ms == pytest.approx(statistics.median(values))
            for s in job.sessions:
                assert s.status == "ok" and s.num_threads == key[2]
                assert s.model_sha256 == job.model.sha256
                assert s.tool_name == "litert-host-runner" and s.tool_sha256
                assert s.device_fingerprint and s.command[1:3] == ["-m", "workers.tools.host_runner"]
                assert f"--num_threads={key[2]}" in s.command
                assert "Inference timings in us" in s.raw_output
                assert s.environment["before"]["load_avg_1m"] >= 0
            coverage = {s.delegate_coverage for s in job.sessions}
            assert coverage == ({"full"} if key[1] == "xnnpack" else {None})

        # one device, one thread: its sessions never overlap in time
        spans = sorted((s.started_at, s.finished_at) for j in run.jobs for s in j.sessions)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:],
                                                                         strict=False))

    page = report.read_text()
    assert "builtin-segmenter" in page and "builtin-stylizer" in page
    assert page.count("plotly.js v") == 1  # plotly.js inlined once: the page works offline
    assert "Inference time on local" in page and "Model size (MB)" in page

    listed = farm("runs", "list", env=farm_db_env)
    assert run_id in listed.stdout
    as_json = json.loads(farm("results", run_id, "--format", "json", env=farm_db_env).stdout)
    assert len(as_json) == 12 and {r["status"] for r in as_json} >= {"done", "skipped"}
    as_csv = list(csv.DictReader(io.StringIO(farm("results", run_id[:5], "-f", "csv",
                                                  env=farm_db_env).stdout)))
    assert len(as_csv) == 12 and float(as_csv[0]["value_ms"]) > 0
    out = Path(farm_db_env["FARM_HOME"]) / "again.html"
    assert farm("report", run_id, "-o", str(out), env=farm_db_env).returncode == 0
    assert out.stat().st_size > 100_000


def test_execute_job_is_idempotent_and_resumes(farm_db_env: dict[str, str]) -> None:
    from workers.service import execute_job

    result = farm("submit", "--models", "builtin-segmenter", "--threads", "1", "--delegates",
                  "xnnpack", "--repeats", "3", "--no-report", env=farm_db_env)
    assert result.returncode == 0, result.stderr
    settings = load_settings(farm_db_env)
    with _db(farm_db_env) as db:
        job = db.scalars(select(Job)).one()
        first = {s.repeat_index: (s.id, s.started_at) for s in job.sessions}
        assert sorted(first) == [0, 1, 2]

    # A redelivered finished job runs nothing.
    assert execute_job(settings, job.id).status == "done"
    with _db(farm_db_env) as db:
        assert db.scalar(select(func.count(Session.id))) == 3

    # An interrupted job (one session missing, status still running) measures only what is missing.
    with _db(farm_db_env) as db:
        db.delete(db.get(Session, first[1][0]))
        db.execute(update(Job).values(status="running"))
        db.commit()
    resumed_at = utcnow()
    outcome = execute_job(settings, job.id)
    assert outcome.status == "done"
    with _db(farm_db_env) as db:
        again = {s.repeat_index: (s.id, s.started_at)
                 for s in db.get(Job, job.id).sessions}  # type: ignore[union-attr]
        assert sorted(again) == [0, 1, 2]
        # the kept sessions are untouched; the missing one was measured again, after the resume
        # (its row id may be reused: SQLite hands out the highest rowid again once it is deleted)
        assert again[0] == first[0] and again[2] == first[2]
        assert _aware(again[1][1]) >= resumed_at > _aware(first[1][1])


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_keeps_what_finished_and_exits_130(clean_env: dict[str, str]) -> None:
    env = clean_env | {"FARM_REPEATS": "40"}  # long enough to be interrupted mid-run
    process = subprocess.Popen([sys.executable, "-m", "farm.cli", "submit", "--models",
                                "builtin-stylizer", "--threads", "1", "--no-report"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    run_id = re.search(r"run (\w{8})", process.stdout.readline()).group(1)  # type: ignore[union-attr]
    with _db(env) as db:  # interrupt once a session is stored
        deadline = time.monotonic() + 120
        while not db.scalar(select(func.count()).select_from(Session)):
            assert time.monotonic() < deadline, "no session was stored"
            time.sleep(0.2)
            db.expire_all()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert f"stopped: run {run_id} cancelled; finished jobs are kept" in err
    with _db(env) as db:
        run = db.get(Run, run_id)
        assert run is not None and run.status == "cancelled"
        (job,) = run.jobs
        # the session under way when Ctrl-C came finished and was stored; nothing more started
        assert 1 <= len(job.sessions) < 40 and all(s.status == "ok" for s in job.sessions)


def test_devices_chosen_by_selector(farm_env: dict[str, str]) -> None:
    none = farm("submit", "--devices", 'model:"Galaxy S24",android>=14', "--models",
                "builtin-segmenter", env=farm_env)
    assert none.returncode == 2, none.stdout + none.stderr
    assert "error: --devices model:Galaxy S24,android>=14 matches no online device" in none.stderr
    assert json.loads(farm("runs", "list", "-f", "json", env=farm_env).stdout) == []
    listed = farm("devices", "list", "--no-scan", "--select", "kind:local", "-f", "json",
                  env=farm_env)
    assert [row["serial"] for row in json.loads(listed.stdout)] == ["local"]
    ran = farm("submit", "--devices", "kind:local", "--models", "builtin-segmenter", "--threads",
               "1", "--repeats", "1", "--no-report", env=farm_env)
    assert ran.returncode == 0, ran.stderr
    assert "run " in ran.stdout and "1 done, 0 failed" in ran.stdout


def test_a_pool_submission_from_the_cli(farm_env: dict[str, str]) -> None:
    ran = farm("submit", "--devices", "kind:local", "--pool", "--models", "builtin-segmenter",
               "--threads", "1,2", "--repeats", "1", "--no-report", "-f", "json", env=farm_env)
    assert ran.returncode == 0, ran.stderr
    rows = json.loads(ran.stdout)
    assert [(r["device"], r["pool"], r["status"]) for r in rows] == [("local", "kind:local",
                                                                      "done")] * 2
    misuse = farm("submit", "--devices", "local", "--spread-sessions", env=farm_env)
    assert misuse.returncode == 2 and "--spread-sessions spreads a pool's jobs" in misuse.stderr
