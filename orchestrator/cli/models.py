"""``farm models``: register and inspect models (the zoo adds build / pull / list / show)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from orchestrator.cli._common import console, settings
from orchestrator.storage import register_model, session_scope

models_app = typer.Typer(help="Register, build, download and inspect models.",
                         no_args_is_help=True)


def _shape(tensors: list[dict[str, Any]]) -> str:
    return ", ".join(f"{t['name']} {'x'.join(map(str, t['shape']))} {t['dtype']}" for t in tensors)


@models_app.command("add")
def add(
    paths: Annotated[list[Path], typer.Argument(help=".tflite files to register")],
    name: Annotated[str | None, typer.Option(help="name (one file only); default: file stem")
                    ] = None,
) -> None:
    """Register .tflite files: sha256, size, input and output tensors are read from each file."""
    if name and len(paths) > 1:
        raise typer.BadParameter("--name needs exactly one file", param_hint="--name")
    # One transaction: a bad file anywhere in the list registers none of them.
    with session_scope(settings()) as db:
        rows = [register_model(db, path, name=name) for path in paths]
        table = Table(title="registered models")
        for column in ("name", "size MB", "sha256", "inputs", "outputs"):
            table.add_column(column)
        for m in rows:
            table.add_row(m.name, f"{m.size_bytes / 1e6:.3f}", m.sha256[:12], _shape(m.inputs),
                          _shape(m.outputs))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
