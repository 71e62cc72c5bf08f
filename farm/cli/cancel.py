"""``farm cancel RUN`` (``farm.runs.cancel``)."""

from __future__ import annotations

from typing import Annotated

import typer

from farm.cli._output import console
from farm.executors import executor_for
from farm.runs import cancel as cancel_run
from orchestrator.config import load_settings

app = typer.Typer(add_completion=False)


@app.command("cancel")
def cancel(run_id: Annotated[str, typer.Argument(help="run id (or a unique prefix)")]) -> None:
    """Cancel a run: its unfinished jobs become cancelled, its queued tasks are revoked; a device in
    the middle of a session finishes that session and stops."""
    current = load_settings()
    console.print(f"run {cancel_run(current, executor_for(current), run_id)}: cancelled")
