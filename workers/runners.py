"""Session runners: how one benchmark session is executed on one kind of device.

A runner prepares a job (makes sure its tool is registered, computes provenance) and runs single
sessions, each as a fresh process, returning the raw output; parsing is the service's business.

- ``LocalRunner``: this machine, through the host runner (``python -m workers.tools.host_runner``).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from models.tflite_file import sha256_file
from orchestrator.config import Settings
from orchestrator.errors import DeviceError, ModelError
from orchestrator.schema import Device, Model, Tool, utcnow
from orchestrator.storage import session_scope
from workers.tools import host_runner
from workers.tools.benchmark_argv import SessionSpec, host_runner_argv

__all__ = ["HOST_RUNNER_NAME", "LocalRunner", "RawSession", "Runner", "runner_for"]

HOST_RUNNER_NAME = "litert-host-runner"


@dataclass(frozen=True)
class RawSession:
    argv: list[str]
    output: str
    exit_code: int | None
    started_at: datetime
    finished_at: datetime
    environment: dict[str, Any] = field(default_factory=dict)
    #: set when the runner, not the tool, ended the session (timeout, device lost)
    error_kind: str | None = None
    error_message: str | None = None


class Runner(Protocol):
    def prepare(self, model: Model) -> tuple[Tool, dict[str, object]]: ...

    def run_session(self, spec: SessionSpec, timeout_s: float) -> RawSession: ...


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def local_environment() -> dict[str, Any]:
    """Temperatures, clocks, governor and load of this machine, as far as it exposes them."""
    temps = [t / 1000.0 for p in glob.glob("/sys/class/thermal/thermal_zone*/temp")
             if (t := _read_int(p)) is not None and t > 0]
    governor = None
    with contextlib.suppress(OSError):
        governor = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip()
    clocks = [f for p in sorted(glob.glob("/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"))
              if (f := _read_int(p)) is not None]
    return {
        "temp_c": max(temps) if temps else None,
        "governor": governor,
        "cur_freq_khz": clocks,
        "load_avg_1m": os.getloadavg()[0],
    }


def _host_runner_tool() -> dict[str, str]:
    source = Path(host_runner.__file__)
    return {
        "name": HOST_RUNNER_NAME,
        "version": f"tflite-farm {version('tflite-farm')} / ai-edge-litert {version('ai-edge-litert')}",
        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
    }


class LocalRunner:
    """This machine, through the host runner in a fresh Python process per session."""

    def __init__(self, settings: Settings, device: Device) -> None:
        self.settings = settings
        self.device = device

    def prepare(self, model: Model) -> tuple[Tool, dict[str, object]]:
        try:
            actual = sha256_file(Path(model.path))
        except OSError as exc:
            raise ModelError(f"model {model.name}: cannot read {model.path}: {exc.strerror}",
                             hint="restore the file or register it again with `farm models add`"
                             ) from exc
        if actual != model.sha256:
            raise ModelError(f"model {model.name}: {model.path} changed since it was registered",
                             hint=f"register it again with `farm models add {model.path}`")
        identity = _host_runner_tool()
        with session_scope(self.settings) as db:
            tool = db.scalars(select(Tool).filter_by(abi=self.device.abi or "", **identity)).first()
            if tool is None:
                tool = Tool(abi=self.device.abi or "", path=sys.executable, **identity)
                db.add(tool)
                db.flush()
        provenance: dict[str, object] = {"model_sha256": actual, "tool_name": tool.name,
                      "tool_version": tool.version, "tool_sha256": tool.sha256,
                      "device_fingerprint": self.device.fingerprint}
        return tool, provenance

    def run_session(self, spec: SessionSpec, timeout_s: float) -> RawSession:
        argv = host_runner_argv(spec)
        before = local_environment()
        started = utcnow()
        error_kind = error_message = None
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                                  check=False, env=os.environ | {"PYTHONUNBUFFERED": "1"})
            output, code = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            output = _text(exc.stdout) + _text(exc.stderr)
            code = None
            error_kind = "timeout"
            error_message = f"the session ran longer than {timeout_s:g} s and was killed"
        after = local_environment()
        return RawSession(argv=argv, output=output, exit_code=code, started_at=started,
                          finished_at=utcnow(),
                          environment={"before": before, "after": after,
                                       "temp_before_c": before["temp_c"],
                                       "temp_after_c": after["temp_c"]},
                          error_kind=error_kind, error_message=error_message)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def runner_for(settings: Settings, device: Device) -> Runner:
    if device.kind == "local":
        return LocalRunner(settings, device)
    raise DeviceError(
        f"device {device.serial} is an adb device; this version benchmarks only the local device",
        hint="use --devices local",
    )
