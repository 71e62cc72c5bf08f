"""Pre-flight (``farm.preflight``): a problem many jobs share is one error before anything is
written, and what each device can run decides the default configs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DbSession

from farm.executors import DistributedExecutor, EmbeddedExecutor
from farm.preflight import check_models, preflight
from farm.submit import submit
from farm.tools import add_tool, ensure_host_runner
from models.builtin import register_builtin_models
from orchestrator.config import load_settings
from orchestrator.errors import ExitCode, PreflightError
from orchestrator.jobspec import JobSpec
from orchestrator.planning import Submission, models_by_name, resolve_devices
from orchestrator.repository import upsert_device
from orchestrator.schema import Device, Job, Run
from orchestrator.storage import session_scope
from tests.support.ports import free_port
from tests.support.scripted import device_record


class KnownDevices(EmbeddedExecutor):
    """The embedded executor on the devices the database knows (no adb scan in the fast tier)."""

    def devices(self, db: DbSession, names: Sequence[str]) -> tuple[list[Device], list[str]]:
        return resolve_devices(db, names), []


def _phones(*serials: str, gpu: str | None = None, sdk: int | None = None) -> None:
    settings = load_settings()
    with session_scope(settings) as db:
        register_builtin_models(db, settings)
        for serial in serials:
            record = device_record(serial)
            record["gpu"] = gpu
            record["info"] = {**record["info"], "sdk": sdk}  # type: ignore[dict-item]
            upsert_device(db, record)


def _submission(*serials: str) -> Submission:
    return Submission(models=("builtin-segmenter",), devices=serials,
                      spec=JobSpec.from_settings(load_settings(), repeats=1))


def _count_runs() -> tuple[int, int]:
    with session_scope(load_settings()) as db:
        return (db.scalar(select(func.count()).select_from(Run)) or 0,
                db.scalar(select(func.count()).select_from(Job)) or 0)


def test_phones_without_a_tool_are_one_error_and_nothing_is_written(db_env: dict[str, str]
                                                                    ) -> None:
    _phones("P1", "P2")
    with pytest.raises(PreflightError) as info:
        submit(load_settings(), KnownDevices(load_settings()), _submission("P1", "P2"),
               wait=True, report=False)
    assert "no benchmark tool is registered for ABI arm64-v8a (P1, P2)" in info.value.message
    assert "farm tools add --host-runner --abi arm64-v8a" in (info.value.hint or "")
    assert info.value.exit_code == ExitCode.USAGE
    assert _count_runs() == (0, 0)


def test_the_tool_decides_what_a_phone_runs_by_default(db_env: dict[str, str], tmp_path: Path
                                                       ) -> None:
    _phones("P1", gpu="Mali-G710", sdk=34)
    settings = load_settings()
    tool, registered = ensure_host_runner(settings, "arm64-v8a")
    assert registered and tool.name == "litert-host-runner"
    assert ensure_host_runner(settings, "arm64-v8a") == (tool, False)  # once is enough
    with session_scope(settings) as db:
        models, devices = models_by_name(db, ["builtin-segmenter"]), resolve_devices(db, ["P1"])
        # a virtual phone's host runner: CPU paths only, though the phone reports a GPU
        assert preflight(settings, db, models, devices)["P1"].delegates == ("xnnpack",)
    binary = tmp_path / "benchmark_model"
    binary.write_text("#!/bin/sh\n")
    add_tool(settings, binary, abi="arm64-v8a", name="benchmark_model", version="2.16")
    with session_scope(settings) as db:
        models, devices = models_by_name(db, ["builtin-segmenter"]), resolve_devices(db, ["P1"])
        fitting = preflight(settings, db, models, devices)["P1"]
    # a real benchmark_model on an Android 14 phone with a GPU; 4 big cores of the scripted 4+4
    assert fitting.delegates == ("xnnpack", "gpu", "nnapi") and fitting.threads == (1, 4)


def test_a_tool_whose_file_is_gone_is_named(db_env: dict[str, str], tmp_path: Path) -> None:
    _phones("P1")
    binary = tmp_path / "benchmark_model"
    binary.write_text("#!/bin/sh\n")
    add_tool(load_settings(), binary, abi="arm64-v8a", name="benchmark_model", version="2.16")
    binary.unlink()
    with pytest.raises(PreflightError, match="is missing at .*needed by P1"):
        submit(load_settings(), KnownDevices(load_settings()), _submission("P1"), wait=True,
               report=False)
    assert _count_runs() == (0, 0)


def test_a_model_that_does_not_load_is_named(db_env: dict[str, str]) -> None:
    settings = load_settings()
    with session_scope(settings) as db:
        register_builtin_models(db, settings)
        (model,) = models_by_name(db, ["builtin-stylizer"])
        Path(model.path).write_bytes(b"not a flatbuffer at all")
        with pytest.raises(PreflightError) as info:
            check_models(models_by_name(db, ["builtin-segmenter", "builtin-stylizer"]))
    assert info.value.message.startswith("1 model(s) cannot be loaded: builtin-stylizer: ")
    assert "farm models add" in (info.value.hint or "")


def test_a_model_file_replaced_since_it_was_registered_is_named(db_env: dict[str, str]) -> None:
    settings = load_settings()
    with session_scope(settings) as db:
        register_builtin_models(db, settings)
        segmenter, stylizer = models_by_name(db, ["builtin-segmenter", "builtin-stylizer"])
        # a valid TFLite file, but not the one the jobs would claim to measure
        Path(stylizer.path).write_bytes(Path(segmenter.path).read_bytes())
        with pytest.raises(PreflightError, match="builtin-stylizer: .* changed since it was "
                                                 "registered"):
            check_models([segmenter, stylizer])


def test_a_broker_that_does_not_answer_fails_before_planning(db_env: dict[str, str],
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setenv("FARM_BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")
    settings = load_settings()
    started = time.monotonic()
    with pytest.raises(PreflightError, match="cannot reach the broker") as info:
        submit(settings, DistributedExecutor(settings), _submission("P1"), wait=False,
               report=False)
    assert time.monotonic() - started < 10
    assert info.value.exit_code == ExitCode.USAGE and "FARM_BROKER_URL" in (info.value.hint or "")
    assert _count_runs() == (0, 0)
