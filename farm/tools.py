"""``farm tools add|list``: the benchmark binaries the farm pushes to phones, one per ABI."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from orchestrator import repository
from orchestrator.config import Settings
from orchestrator.repository import ToolRef
from orchestrator.schema import Tool
from orchestrator.storage import session_scope
from workers.runners import HOST_RUNNER_NAME
from workers.tools.registry import register_tool, write_host_runner_launcher

__all__ = ["add_tool", "ensure_host_runner", "list_tools"]


def add_tool(settings: Settings, path: Path | None, *, abi: str, name: str | None = None,
             version: str | None = None, host_runner: bool = False) -> ToolRef:
    """Register a benchmark binary for an ABI, or (``host_runner``) this host's LiteRT runner, the
    benchmark tool of virtual phones."""
    if host_runner == (path is not None):
        raise ValueError("give either a path or host_runner")
    if path is None:
        path, version = write_host_runner_launcher(settings.home_path / "tools")
        name = name or HOST_RUNNER_NAME
    with session_scope(settings) as db:
        return ToolRef.of(register_tool(db, path, abi=abi, name=name, tool_version=version))


def list_tools(settings: Settings) -> list[ToolRef]:
    with session_scope(settings) as db:
        return [ToolRef.of(t) for t in db.scalars(select(Tool).order_by(Tool.abi, Tool.created_at))]


def ensure_host_runner(settings: Settings, abi: str) -> tuple[ToolRef, bool]:
    """The tool phones of ``abi`` will run, registering the host runner if there is none
    (virtual phones run this host's LiteRT behind their adb shell); whether it was registered."""
    with session_scope(settings) as db:
        tools = repository.tools_for_abis(db, [abi])
        if tools:
            return tools[0], False
    return add_tool(settings, None, abi=abi, host_runner=True), True
