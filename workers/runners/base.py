"""What every session runner shares: the raw session it returns, the plan it follows, the
``Runner`` protocol, and the check that a model file is still the one registered.

A runner chooses the benchmark tool, puts a model (and the tool) in place, and runs single
sessions, each as a fresh process, returning the raw output; parsing and storing are the
service's steps (``workers.service``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session as DbSession

from models.tflite_file import sha256_file
from orchestrator.errors import ModelError
from orchestrator.repository import ToolRef
from workers.device.gate import GatePolicy
from workers.tools.benchmark_argv import SessionSpec

__all__ = ["RawSession", "Runner", "SessionPlan", "verify_model"]


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
    def choose_tool(self, db: DbSession) -> ToolRef:
        """The benchmark tool this device runs (raises ``ToolError`` when there is none)."""
        ...

    def prepare_model(self, path: str, sha256: str, tool: ToolRef) -> None:
        """Check the model file and put it (and the tool) where sessions will find them."""
        ...

    def run_session(self, plan: SessionPlan) -> RawSession: ...

    def reconnect(self, wait_s: float) -> bool:
        """Wait up to ``wait_s`` for a lost device to come back; True if it did."""
        ...

    def too_hot(self, policy: GatePolicy) -> str | None:
        """Why the device is above the gate's temperature limit now, or None (one reading)."""
        ...


def verify_model(path: str, sha256: str) -> None:
    """The model file must still be the one registered: a changed file is a different model."""
    try:
        actual = sha256_file(Path(path))
    except OSError as exc:
        raise ModelError(f"cannot read the model file {path}: {exc.strerror}",
                         hint="restore the file or register it again with `farm models add`"
                         ) from exc
    if actual != sha256:
        raise ModelError(f"{path} changed since it was registered",
                         hint=f"register it again with `farm models add {path}`")
