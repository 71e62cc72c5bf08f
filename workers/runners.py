"""Session runners: how one benchmark session is executed on one kind of device.

A runner prepares a model (its file and the benchmark tool in place, provenance computed) and runs
single sessions, each as a fresh process, returning the raw output; parsing is the service's job.

- ``LocalRunner``: this machine, through the host runner (``python -m workers.tools.host_runner``).
- ``AdbRunner``: a phone behind the adb server: the tool registered for its ABI and the model go
  through the push cache; each session passes the thermal / battery gate, may be pinned to the big
  cores with ``taskset``, and records an environment snapshot before and after.
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
from orchestrator.errors import ModelError
from orchestrator.schema import Device, Tool, utcnow
from orchestrator.storage import session_scope
from workers.device.gate import GatePolicy
from workers.tools import host_runner
from workers.tools.benchmark_argv import SessionSpec, host_runner_argv

__all__ = ["HOST_RUNNER_NAME", "LocalRunner", "RawSession", "Runner", "SessionPlan", "runner_for"]

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


@dataclass(frozen=True)
class SessionPlan:
    spec: SessionSpec
    timeout_s: float = 600.0
    pin: str | None = None  # "big": taskset to the big cores (phones)
    gate: GatePolicy = field(default_factory=GatePolicy)
    device_retries: int = 3


class Runner(Protocol):
    def prepare_model(self, path: str, sha256: str) -> tuple[Tool, dict[str, object]]: ...

    def run_session(self, plan: SessionPlan) -> RawSession: ...

    def reconnect(self, wait_s: float) -> bool:
        """Wait up to ``wait_s`` for a lost device to come back; True if it did."""
        ...


def _verify_model(path: str, sha256: str) -> None:
    try:
        actual = sha256_file(Path(path))
    except OSError as exc:
        raise ModelError(f"cannot read the model file {path}: {exc.strerror}",
                         hint="restore the file or register it again with `farm models add`"
                         ) from exc
    if actual != sha256:
        raise ModelError(f"{path} changed since it was registered",
                         hint=f"register it again with `farm models add {path}`")


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

    def prepare_model(self, path: str, sha256: str) -> tuple[Tool, dict[str, object]]:
        _verify_model(path, sha256)
        identity = _host_runner_tool()
        with session_scope(self.settings) as db:
            tool = db.scalars(select(Tool).filter_by(abi=self.device.abi or "", **identity)).first()
            if tool is None:
                tool = Tool(abi=self.device.abi or "", path=sys.executable, **identity)
                db.add(tool)
                db.flush()
        provenance: dict[str, object] = {
            "model_sha256": sha256, "tool_name": tool.name, "tool_version": tool.version,
            "tool_sha256": tool.sha256, "device_fingerprint": self.device.fingerprint}
        return tool, provenance

    def reconnect(self, wait_s: float) -> bool:
        return False  # this machine does not disconnect from itself

    def run_session(self, plan: SessionPlan) -> RawSession:
        argv, timeout_s = host_runner_argv(plan.spec), plan.timeout_s
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
    from workers.adb_runner import AdbRunner

    return AdbRunner(settings, device)
