"""Pure command builders for ``benchmark_model`` and the host runner (no I/O, no device).

``build_argv(spec)`` returns the flag list for one session; the caller prefixes the executable
(a path on the phone, or the host runner's Python module) and quotes it for the device shell.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = ["DELEGATES", "SessionSpec", "build_argv", "host_runner_argv"]

#: delegate name -> benchmark_model flags that select it
DELEGATES: dict[str, tuple[str, ...]] = {
    # Plain CPU means the builtin kernels: XNNPACK is LiteRT's default, so switch it off.
    "cpu": ("--use_xnnpack=false",),
    "xnnpack": ("--use_xnnpack=true",),
    "gpu": ("--use_gpu=true",),
    "nnapi": ("--use_nnapi=true",),
}


@dataclass(frozen=True)
class SessionSpec:
    graph: str
    num_threads: int
    delegate: str
    num_runs: int = 10
    min_secs: float = 1.0
    max_secs: float = 60.0
    warmup_runs: int = 1
    warmup_min_secs: float = 0.5
    op_profiling: bool = False

    def __post_init__(self) -> None:
        if self.delegate not in DELEGATES:
            raise ValueError(f"unknown delegate {self.delegate!r}")
        if self.num_threads < 1:
            raise ValueError("num_threads must be >= 1")


def build_argv(spec: SessionSpec) -> list[str]:
    argv = [
        f"--graph={spec.graph}",
        f"--num_threads={spec.num_threads}",
        f"--num_runs={spec.num_runs}",
        f"--min_secs={spec.min_secs:g}",
        f"--max_secs={spec.max_secs:g}",
        f"--warmup_runs={spec.warmup_runs}",
        f"--warmup_min_secs={spec.warmup_min_secs:g}",
        *DELEGATES[spec.delegate],
    ]
    if spec.op_profiling:
        argv.append("--enable_op_profiling=true")
    return argv


def host_runner_argv(spec: SessionSpec, python: str = sys.executable) -> list[str]:
    """The host runner as a fresh process: every session is an independent process."""
    return [python, "-m", "workers.tools.host_runner", *build_argv(spec)]
