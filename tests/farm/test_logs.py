"""Saved benchmark logs: how one is read (a limit, text only), and `farm import-log`: hand-run
history becomes imported sessions, on both databases."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DbSession

from farm.logs import LOG_LIMIT, read_log
from models.builtin import build_builtin_models
from orchestrator.config import load_settings
from orchestrator.errors import LogFileError
from orchestrator.schema import Device, Run
from tests.support.cli import farm
from tests.workers.tools.helpers import FIXTURES


def test_import_groups_by_config_and_keeps_raw_text(farm_db_env: dict[str, str],
                                                    tmp_path: Path) -> None:
    model = build_builtin_models(tmp_path)["builtin-segmenter"]
    # A transcript of two CPU runs and a failed NNAPI run, as a team would have saved it.
    cpu = (FIXTURES / "17_desktop_x86_tf213_info_prefix_no_xnnpack_quant.txt").read_text()
    nnapi = (FIXTURES / "04_nnapi_qti-default_failed_to_prepare.txt").read_text()
    transcript = tmp_path / "history.log"
    transcript.write_text(f"$ ./benchmark_model\n{cpu}\n$ ./benchmark_model\n{cpu}\n{nnapi}\n")

    result = farm("import-log", str(transcript), "--device", "Pixel-4-lab", "--model", str(model),
                  env=farm_db_env)
    assert result.returncode == 0, result.stderr
    run_id = re.search(r"run (\w{8})", result.stdout).group(1)  # type: ignore[union-attr]

    engine = create_engine(load_settings(farm_db_env).effective_database_url)
    with DbSession(engine) as db:
        run = db.get(Run, run_id)
        assert run is not None and run.trigger == "import"
        sessions = [s for job in run.jobs for s in job.sessions]
        assert len(sessions) == 3 and all(s.imported for s in sessions)
        assert all(s.raw_output and s.raw_output in transcript.read_text() for s in sessions)
        by_delegate = {job.delegate: job for job in run.jobs}
        assert by_delegate["nnapi"].status == "failed"
        assert by_delegate["nnapi"].error_kind == "delegate_failed"
        cpu_job = next(j for j in run.jobs if j.delegate != "nnapi")
        assert cpu_job.status == "done" and len(cpu_job.sessions) == 2
        assert cpu_job.value_ms == cpu_job.sessions[0].inference_avg_ms  # same log twice
        device = db.scalars(select(Device).where(Device.serial == "Pixel-4-lab")).one()
        assert device.kind == "imported" and device.state == "imported"
    engine.dispose()

    rows = json.loads(farm("results", run_id, "-f", "json", env=farm_db_env).stdout)
    assert {r["status"] for r in rows} == {"done", "failed"}
    # imported devices are history, not farm members: `--devices all` never schedules them
    from orchestrator.planning import resolve_devices

    engine = create_engine(load_settings(farm_db_env).effective_database_url)
    with DbSession(engine) as db:
        assert "Pixel-4-lab" not in [d.serial for d in resolve_devices(db, ("all",))]
    engine.dispose()


def test_text_without_benchmark_output_imports_nothing(farm_db_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    model = build_builtin_models(tmp_path)["builtin-segmenter"]
    junk = tmp_path / "notes.txt"
    junk.write_text("lunch at noon\n$ ls\nfoo bar\n")
    result = farm("import-log", str(junk), "--device", "x", "--model", str(model), env=farm_db_env)
    assert result.returncode == 2 and "no benchmark_model output found" in result.stderr
    listed = farm("runs", "list", env=farm_db_env)
    assert "import" not in listed.stdout


def test_a_log_is_read_up_to_the_limit_and_no_further(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("x" * 99 + "\n")
    assert read_log(log, limit=100) == "x" * 99 + "\n"
    log.write_text("x" * 100 + "\n")
    with pytest.raises(LogFileError, match="run.log is larger than 100 bytes") as info:
        read_log(log, limit=100)
    assert info.value.exit_code == 2 and info.value.hint


def test_a_path_that_never_ends_is_refused_after_the_limit() -> None:
    assert LOG_LIMIT == 32 * 1024 * 1024  # the README and the error message say 32 MiB
    started = time.monotonic()
    with pytest.raises(LogFileError, match="/dev/zero is larger than 32 MiB"):
        read_log(Path("/dev/zero"))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(("content", "reason"), [
    (random.Random(7).randbytes(4096), "it holds NUL bytes"),
    (bytes(range(0x80, 0x100)) * 4, "512 of its 512 characters are not UTF-8"),
    (b"INFO: Inference timings in us\x00\n", "it holds NUL bytes"),
])
def test_bytes_that_are_not_text_are_not_a_log(tmp_path: Path, content: bytes, reason: str) -> None:
    log = tmp_path / "noise.bin"
    log.write_bytes(content)
    with pytest.raises(LogFileError, match=f"noise.bin is not a text log: {reason}"):
        read_log(log)


def test_a_utf16_log_is_read_as_text(tmp_path: Path) -> None:
    """PowerShell's `>` saves UTF-16 with a byte order mark."""
    sample = FIXTURES / "04_nnapi_qti-default_failed_to_prepare.txt"
    text = sample.read_text(encoding="utf-8")
    saved = tmp_path / "run.log"
    saved.write_text(text, encoding="utf-16")
    assert read_log(saved) == text
