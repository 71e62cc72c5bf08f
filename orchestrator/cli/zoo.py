"""``farm models list|show|build|pull``: the model zoo's commands on the ``farm models`` sub-app.

Importing this module adds the commands to ``models_app``; ``register`` exists for the uniform
``commands.register`` loop and has nothing left to do.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from models.catalog import load_catalog
from models.inventory import list_models, show_model
from models.pull import pull_official
from models.replicas import SIZE_TOLERANCE, build_replicas
from orchestrator.cli._common import console, err_console, settings
from orchestrator.cli.models import models_app

__all__ = ["register"]

Names = Annotated[list[str] | None, typer.Argument(help="catalog names, or `all` (default)")]


def _mb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:.3f}"


@models_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """What the zoo and the registry hold here: provenance and size of every model."""
    rows = list_models(settings())
    if as_json:
        console.print_json(json.dumps([row.__dict__ for row in rows]))
        return
    table = Table(title="models")
    table.add_column("name", no_wrap=True)  # names are what users type: keep them whole
    for column in ("provenance", "size MB", "reference MB"):
        table.add_column(column)
    table.add_column("status", overflow="fold")
    for row in rows:
        status = "ok" if row.available else (row.how_to_get or "file missing")
        table.add_row(row.name, row.provenance, _mb(row.size_bytes),
                      _mb(row.reference_size_bytes), status)
    console.print(table)


@models_app.command("show")
def show(name: Annotated[str, typer.Argument(help="registered name or catalog entry")]) -> None:
    """A model's provenance, tensors and TFLite metadata (read back with tflite-support)."""
    d = show_model(settings(), name)
    console.print(f"[bold]{d.name}[/]  provenance: {d.provenance}")
    console.print(f"file: {d.path}  ({d.file.size_bytes:,} bytes, sha256 {d.sha256})")
    if d.catalog:
        e = d.catalog
        console.print(f"catalog: {e.name}: {e.task}, {e.backbone}, {e.dataset}, {e.quantization}; "
                      f"official {e.official.handle}")
    tensors = Table(title="tensors")
    for column in ("", "name", "shape", "dtype"):
        tensors.add_column(column)
    for kind, specs in (("input", d.file.inputs), ("output", d.file.outputs)):
        for t in specs:
            tensors.add_row(kind, t.name, "x".join(map(str, t.shape)), t.dtype)
    console.print(tensors)
    m = d.metadata
    if m is None:
        console.print("metadata: none (the file carries no TFLite metadata)")
        return
    console.print(f"metadata name: {m.name}\nversion: {m.version}  author: {m.author}  "
                  f"license: {m.license}\ndescription: {m.description}")
    for kind, items in (("input", m.inputs), ("output", m.outputs)):
        for item in items:
            norm = item["normalization"]
            extra = f" normalization mean {norm['mean']} std {norm['std']}" if norm else ""
            files = f" files {', '.join(item['files'])}" if item["files"] else ""
            console.print(f"  {kind} {item['name']}: {item['description']}{extra}{files}")
    for file, lines in m.associated_files.items():
        preview = ", ".join(lines[:5]) + (", ..." if len(lines) > 5 else "")
        console.print(f"  {file}: {len(lines)} labels ({preview})")


@models_app.command("build")
def build(
    names: Names = None,
    force: Annotated[bool, typer.Option(help="rebuild even if up to date")] = False,
    skip_heavy: Annotated[bool, typer.Option(help="skip the Xception65 entries (minutes each)")
                          ] = False,
) -> None:
    """Build random-weight architecture replicas of catalog entries, offline."""
    entries = load_catalog().select(names or ["all"], include_heavy=not skip_heavy)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=err_console) as bar:
        task = bar.add_task("replicas", total=len(entries))

        def progress(name: str, phase: str) -> None:
            if phase == "environment":
                bar.update(task, description="converter environment (first run installs "
                                             "TensorFlow, ~1 min)")
            elif phase == "building":
                bar.update(task, description=f"building {name}")
            else:
                bar.advance(task)

        results = build_replicas(settings(), entries, force=force, progress=progress)
    table = Table(title="replicas")
    for column in ("name", "size B", "reference B", "deviation", "built in s", ""):
        table.add_column(column)
    for r in results:
        deviation = "-" if r.deviation is None else f"{r.deviation:+.1%}"
        verdict = {None: "", True: "ok", False: f"[red]>{SIZE_TOLERANCE:.0%} off[/]"}[
            r.within_tolerance]
        seconds = "cached" if not r.built else f"{r.seconds:.1f}" if r.seconds else "-"
        table.add_row(r.entry.replica_name, f"{r.size_bytes:,}",
                      f"{r.entry.reference_size_bytes:,}" if r.entry.reference_size_bytes else "-",
                      deviation, seconds, verdict)
    console.print(table)


@models_app.command("pull")
def pull(
    names: Names = None,
    force: Annotated[bool, typer.Option(help="download again even if present")] = False,
) -> None:
    """Download the official files of catalog entries (verified, resumable) and register them."""
    entries = load_catalog().select(names or ["all"])
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=err_console) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        results = pull_official(settings(), entries, progress=progress, force=force)
    for entry, result in results:
        state = "already here" if result is None else (
            f"{result.size_bytes:,} bytes in {result.seconds:.1f} s"
            + (f" (resumed at {result.resumed_from:,})" if result.resumed_from else ""))
        console.print(f"{entry.name}: official, {state}")


def register(app: typer.Typer) -> None:
    """Nothing to add: importing this module put the commands on ``farm models``."""
    del app
