"""``LocalRunner``: sessions on this machine, through the host runner in a fresh Python process
per session (``python -m workers.tools.host_runner``)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from sqlalchemy.orm import Session as DbSession

from orchestrator import repository
from orchestrator.repository import DeviceRef, ToolRef
from orchestrator.schema import utcnow
from workers.device.gate import GatePolicy
from workers.device.local import local_environment
from workers.runners.base import RawSession, SessionPlan, verify_model
from workers.tools.benchmark_argv import host_runner_argv

__all__ = ["HOST_RUNNER_NAME", "LocalRunner", "host_runner_identity"]

HOST_RUNNER_NAME = "litert-host-runner"
#: the host runner's source, found without importing it (it imports numpy and LiteRT, which a
#: session runs in its own process)
_HOST_RUNNER_SOURCE = Path(__file__).resolve().parents[1] / "tools" / "host_runner.py"


def host_runner_identity() -> dict[str, str]:
    """The host runner as a tool: its name, the versions it runs on, its source's sha256."""
    source = _HOST_RUNNER_SOURCE
    return {
        "name": HOST_RUNNER_NAME,
        "version": f"tflite-farm {version('tflite-farm')} / ai-edge-litert {version('ai-edge-litert')}",
        "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
    }


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


class LocalRunner:
    """This machine (a ``Runner``)."""

    def __init__(self, device: DeviceRef) -> None:
        self.device = device

    def choose_tool(self, db: DbSession) -> ToolRef:
        return repository.ensure_tool(db, abi=self.device.abi or "", path=sys.executable,
                                      **host_runner_identity())

    def prepare_model(self, path: str, sha256: str, tool: ToolRef) -> None:
        verify_model(path, sha256)  # the host runner reads it where it is

    def reconnect(self, wait_s: float) -> bool:
        return False  # this machine does not disconnect from itself

    def too_hot(self, policy: GatePolicy) -> str | None:
        return None  # this machine has no gate: its sessions do not wait for it either

    def run_session(self, plan: SessionPlan) -> RawSession:
        argv, timeout_s = host_runner_argv(plan.spec), plan.timeout_s
        before = local_environment()
        started = utcnow()
        error_kind = error_message = None
        try:
            # A session of its own: Ctrl-C in the terminal signals the foreground process group,
            # and must stop the farm after this session, not kill the session (a `crash`).
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                                  check=False, env=os.environ | {"PYTHONUNBUFFERED": "1"},
                                  start_new_session=True)
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
