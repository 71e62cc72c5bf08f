"""Every command module of the CLI, registered on the root app in help order."""

from __future__ import annotations

import typer

from orchestrator.cli import (
    config,
    db,
    devices,
    logs,
    models,
    regressions,
    reports,
    runs,
    submit,
    tools,
    worker,
    zoo,
)


def register(app: typer.Typer) -> None:
    for module in (submit, runs, reports, regressions, devices, tools, logs, models, zoo, config, db,
                   worker):
        module.register(app)
