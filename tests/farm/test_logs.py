"""`farm import-log`: hand-run history becomes imported sessions, on both databases."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DbSession

from models.builtin import build_builtin_models
from orchestrator.config import load_settings
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
