"""``farm import-log FILES --device D --model M``: hand-run history as imported sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from farm.cli._output import console
from farm.logs import import_logs
from orchestrator.config import load_settings

app = typer.Typer(add_completion=False)


@app.command("import-log")
def import_log(
    files: Annotated[list[Path], typer.Argument(help="saved benchmark_model outputs / logcat dumps")],
    device: Annotated[str, typer.Option(help="the device's serial or a name for it")],
    model: Annotated[str, typer.Option(help="a registered model name or the .tflite file's path")],
) -> None:
    """Store the invocations found in FILES as imported sessions of a new run (trigger: import)."""
    result = import_logs(load_settings(), files, device=device, model=model)
    console.print(f"imported {result.sessions} session(s) into {result.jobs} job(s) of run "
                  f"[bold]{result.run_id}[/] ({result.failed_sessions} failed); "
                  f"see `farm runs show {result.run_id}`")
