"""Benchmark tools: binaries registered per ABI, and the host runner's launcher.

``register_tool`` checks what it can before a phone ever sees the file: that it exists, and for an
ELF binary that its machine matches the ABI (an x86 build pushed to an arm64 phone would only fail
there, as "not executable"). A script (``#!``) is accepted for any ABI: the host runner's launcher
is one, and it is what virtual phones run.
"""

from __future__ import annotations

import shlex
import sys
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.tflite_file import sha256_file
from orchestrator.errors import ToolError
from orchestrator.schema import Tool

__all__ = ["ABIS", "register_tool", "write_host_runner_launcher"]

#: Android ABI -> ELF e_machine
ABIS = {"arm64-v8a": 0xB7, "armeabi-v7a": 0x28, "armeabi": 0x28, "x86_64": 0x3E, "x86": 0x03}


def _check_binary(path: Path, abi: str) -> None:
    try:
        head = path.read_bytes()[:20]
    except OSError as exc:
        raise ToolError(f"cannot read the tool {path}: {exc.strerror}",
                        hint="give the path of a benchmark_model binary") from exc
    if head.startswith(b"#!"):
        return
    if not head.startswith(b"\x7fELF") or len(head) < 20:
        raise ToolError(f"{path} is neither an executable (ELF) nor a script",
                        hint="give the benchmark_model binary built for the phone's ABI")
    little = head[5] == 1
    machine = int.from_bytes(head[18:20], "little" if little else "big")
    if machine != ABIS[abi]:
        found = next((name for name, m in ABIS.items() if m == machine), f"machine {machine:#x}")
        raise ToolError(f"{path} is built for {found}, not {abi}",
                        hint=f"register the {abi} build, or use --abi {found}")


def register_tool(db: Session, path: Path, *, abi: str, name: str | None = None,
                  tool_version: str | None = None) -> Tool:
    if abi not in ABIS:
        raise ToolError(f"unknown ABI {abi!r}", hint=f"choose from {', '.join(ABIS)}")
    if not path.is_file():
        raise ToolError(f"no tool file at {path}", hint="give the path of a benchmark_model binary")
    _check_binary(path, abi)
    digest = sha256_file(path)
    identity = {"name": name or path.name, "version": tool_version or "unknown",
                "sha256": digest, "abi": abi}
    tool = db.scalars(select(Tool).filter_by(**identity)).one_or_none()
    if tool is None:
        tool = Tool(**identity)
        db.add(tool)
    tool.path = str(path.resolve())
    db.flush()
    return tool


def write_host_runner_launcher(folder: Path) -> tuple[Path, str]:
    """A ``/bin/sh`` launcher for the host runner (for virtual phones on this host); returns its
    path and the version string to register it under."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "litert-host-runner.sh"
    path.write_text("#!/bin/sh\n# tflite-farm host runner: benchmark_model's flags on LiteRT Python.\n"
                    f"exec {shlex.quote(sys.executable)} -m workers.tools.host_runner \"$@\"\n")
    path.chmod(0o755)
    return path, f"tflite-farm {version('tflite-farm')} / ai-edge-litert {version('ai-edge-litert')}"
