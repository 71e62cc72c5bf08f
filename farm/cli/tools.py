"""``farm tools add|list``: the benchmark binaries the farm pushes to phones, one per ABI."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from farm.cli._output import console
from farm.cli._tables import Column, Format, FormatOption, Listing, WideOption, print_listing
from farm.tools import add_tool, list_tools
from orchestrator.config import load_settings
from orchestrator.repository import ToolRef

app = typer.Typer(help="Register benchmark tools (benchmark_model builds) per ABI.",
                  no_args_is_help=True, add_completion=False)


@app.command("add")
def add(
    path: Annotated[Path | None, typer.Argument(help="a benchmark_model binary")] = None,
    abi: Annotated[str, typer.Option(help="arm64-v8a, armeabi-v7a, armeabi, x86_64 or x86")
                   ] = "arm64-v8a",
    name: Annotated[str | None, typer.Option(help="tool name [default: file name]")] = None,
    version: Annotated[str | None, typer.Option(help="tool version, e.g. TF 2.16")] = None,
    host_runner: Annotated[bool, typer.Option(
        "--host-runner", help="register this host's LiteRT runner (for virtual phones)")] = False,
) -> None:
    """Register a benchmark tool for an ABI (sha256 recorded; pushed to phones of that ABI)."""
    if host_runner == (path is not None):
        raise typer.BadParameter("give either a PATH or --host-runner")
    tool = add_tool(load_settings(), path, abi=abi, name=name, version=version,
                    host_runner=host_runner)
    console.print(f"registered {escape(tool.name)} ({escape(tool.version)}) for {tool.abi}: "
                  f"sha256 {tool.sha256[:12]}")


def tools_listing(tools: list[ToolRef]) -> Listing:
    columns = (Column("name", "name", name=True), Column("version", "version"),
               Column("ABI", "abi", name=True), Column("sha256", "sha256", show=lambda h: h[:12]),
               Column("path", "path", drop=1))
    return Listing("benchmark tools", columns, [asdict(t) for t in tools],
                   empty="no tools registered: `farm tools add PATH --abi ABI`")


@app.command("list")
def list_(fmt: FormatOption = Format.table, wide: WideOption = False) -> None:
    """Every registered tool: name, version, ABI, sha256, file."""
    print_listing(console, tools_listing(list_tools(load_settings())), fmt, wide=wide)
