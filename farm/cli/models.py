"""``farm models add|list|show|build|pull``: your own models and the zoo's.

``add`` registers files (``farm.zoo``); ``list`` / ``show`` read what is here (``models.inventory``);
``build`` makes the zoo's replicas offline (``models.replicas``); ``pull`` downloads the official
files (``models.pull``).
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from farm.cli._output import console, err_console
from farm.cli._tables import Column, Format, FormatOption, JsonOption, Listing, WideOption, print_listing
from farm.zoo import add_models
from models.catalog import load_catalog
from models.converter import venv
from models.inventory import ZooRow, list_models, show_model
from models.pull import pull_official
from models.replicas import SIZE_TOLERANCE, BuildResult, build_replicas
from orchestrator.config import load_settings

__all__ = ["app"]

app = typer.Typer(help="Register, build, download and inspect models.", no_args_is_help=True,
                  add_completion=False)


def _shape(tensors: list[dict[str, Any]]) -> str:
    return ", ".join(f"{t['name']} {'x'.join(map(str, t['shape']))} {t['dtype']}" for t in tensors)


@app.command("add")
def add(
    paths: Annotated[list[Path], typer.Argument(help=".tflite files to register")],
    name: Annotated[str | None, typer.Option(help="name (one file only); default: file stem")
                    ] = None,
    wide: WideOption = False,
) -> None:
    """Register .tflite files: sha256, size, input and output tensors are read from each file."""
    if name and len(paths) > 1:
        raise typer.BadParameter("--name needs exactly one file", param_hint="--name")
    # One transaction: a bad file anywhere in the list registers none of them.
    rows = add_models(load_settings(), paths, name)
    columns = (Column("name", "name", name=True),
               Column("size MB", "size_bytes", justify="right", show=_mb),
               Column("sha256", "sha256", drop=3, show=lambda h: h[:12]),
               Column("inputs", "inputs", drop=2, show=_shape),
               Column("outputs", "outputs", drop=1, show=_shape))
    print_listing(console, Listing("registered models", columns, [asdict(m) for m in rows]),
                  wide=wide)


Names = Annotated[list[str] | None, typer.Argument(help="catalog names, or `all` (default)")]


def _mb(size: int) -> str:
    return f"{size / 1e6:.3f}"


def zoo_listing(zoo: list[ZooRow]) -> Listing:
    rows = [{**asdict(row), "status": "ok" if row.available
             else "file missing" if row.how_to_get is None else "not here"}
            for row in zoo]
    columns = (Column("name", "name", name=True), Column("provenance", "provenance", drop=2),
               Column("size MB", "size_bytes", justify="right", show=_mb),
               Column("reference MB", "reference_size_bytes", justify="right", drop=1, show=_mb),
               Column("status", "status"))
    return Listing("models", columns, rows, empty="no models",
                   export=tuple(f.name for f in fields(ZooRow)))


@app.command("list")
def list_(
    as_json: JsonOption = False,
    fmt: FormatOption = Format.table,
    wide: WideOption = False,
) -> None:
    """What the zoo and the registry hold here: provenance and size of every model."""
    listing = zoo_listing(list_models(load_settings()))
    rows = listing.rows
    fmt = Format.json if as_json else fmt
    print_listing(console, listing, fmt, wide=wide)
    if fmt is Format.table and any(row["status"] == "not here" for row in rows):
        console.print("not here: build the replica offline with `farm models build NAME` (or "
                      "all), or download the official file with `farm models pull NAME`")


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="registered name or catalog entry")]) -> None:
    """A model's provenance, tensors and TFLite metadata (read back with tflite-support)."""
    d = show_model(load_settings(), name)
    console.print(f"[bold]{d.name}[/]  provenance: {d.provenance}")
    console.print(f"file: {d.path}  ({d.file.size_bytes:,} bytes, sha256 {d.sha256})")
    if d.catalog:
        e = d.catalog
        console.print(f"catalog: {e.name}: {e.task}, {e.backbone}, {e.dataset}, {e.quantization}; "
                      f"official {e.official.handle}")
    tensors = [{"kind": kind, "name": t.name, "shape": "x".join(map(str, t.shape)),
                "dtype": t.dtype}
               for kind, specs in (("input", d.file.inputs), ("output", d.file.outputs))
               for t in specs]
    columns = (Column("", "kind"), Column("name", "name", name=True),
               Column("shape", "shape", name=True), Column("dtype", "dtype"))
    print_listing(console, Listing("tensors", columns, tensors))
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


def replicas_listing(results: list[BuildResult]) -> Listing:
    rows = [{"name": r.entry.replica_name, "size_bytes": r.size_bytes,
             "reference_bytes": r.entry.reference_size_bytes, "deviation": r.deviation,
             "seconds": r.seconds if r.built else None, "built": r.built,
             "size_ok": r.within_tolerance} for r in results]
    columns = (
        Column("name", "name", name=True),
        Column("size B", "size_bytes", justify="right", show=lambda b: f"{b:,}"),
        Column("reference B", "reference_bytes", justify="right", drop=2,
               show=lambda b: f"{b:,}"),
        Column("deviation", "deviation", justify="right",
               show=lambda d: f"{d:+.1%}"),
        Column("built in s", "seconds", justify="right", drop=1,
               missing="cached", show=lambda s: f"{s:.1f}"),
        Column("size", "size_ok", show=lambda ok: "ok" if ok else f">{SIZE_TOLERANCE:.0%} off",
               style=lambda ok: "red" if ok is False else ""),
    )
    return Listing("replicas", columns, rows)


@app.command("build")
def build(
    names: Names = None,
    force: Annotated[bool, typer.Option(help="rebuild even if up to date")] = False,
    skip_heavy: Annotated[bool, typer.Option(
        help="skip the heavy entries: Xception65 (minutes to build each) and the InceptionV3 "
             "transfer networks (seconds per inference)")] = False,
    jobs: Annotated[int | None, typer.Option(
        min=1, help="replicas built at once, each in its own TensorFlow process (default: one "
                    "per CPU; 1 builds one after another)")] = None,
    fmt: FormatOption = Format.table,
    wide: WideOption = False,
) -> None:
    """Build random-weight architecture replicas of catalog entries, offline."""
    entries = load_catalog().select(names or ["all"], include_heavy=not skip_heavy)
    # one line per replica being built, above the bars of the converter environment (first run)
    # and of the replicas
    steps = Progress(SpinnerColumn(finished_text="[green]✓"), TextColumn("{task.description}"),
                     TimeElapsedColumn(), console=err_console)
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                   TimeRemainingColumn(), console=err_console)
    overall = bar.add_task("replicas", total=len(entries))
    lines: dict[str, TaskID] = {}
    cached = 0

    def env_line(line: str) -> None:
        # pip names each package as it fetches it, then installs them all in one step: a bar over
        # the pinned requirements plus that last step
        task = lines.get("environment")
        if task is None:
            return
        if line.startswith(("Collecting ", "Processing ")):
            bar.update(task, completed=min(bar.tasks[task].completed + 1,
                                           venv.requirement_count()))
        elif line.startswith("Installing collected packages"):
            bar.update(task, description="converter environment: installing TensorFlow")

    def progress(name: str, phase: str) -> None:
        nonlocal cached
        if phase == "environment":
            lines["environment"] = bar.add_task(
                "converter environment: fetching TensorFlow", total=venv.requirement_count() + 1)
        elif phase == "ready":
            task = lines.pop("environment")
            bar.update(task, completed=bar.tasks[task].total, description="converter environment")
        elif phase == "up to date":
            # a cached replica costs nothing: out of the bar, so the ETA counts builds only
            cached += 1
            bar.update(overall, total=len(entries) - cached,
                       description=f"replicas ({cached} up to date)")
        elif phase == "building":
            lines[name] = steps.add_task(name, total=None)
        else:
            steps.remove_task(lines.pop(name))
            bar.advance(overall)

    with Live(Group(steps, bar), console=err_console):
        results = build_replicas(load_settings(), entries, force=force, jobs=jobs,
                                 progress=progress, on_env_line=env_line)
    print_listing(console, replicas_listing(results), fmt, wide=wide)


@app.command("pull")
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

        results = pull_official(load_settings(), entries, progress=progress, force=force)
    for entry, result in results:
        state = "already here" if result is None else (
            f"{result.size_bytes:,} bytes in {result.seconds:.1f} s"
            + (f" (resumed at {result.resumed_from:,})" if result.resumed_from else ""))
        console.print(f"{entry.name}: official, {state}")
