"""``farm config show``: the effective configuration and where each value came from."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from farm.cli._output import console
from orchestrator.config import load_settings
from orchestrator.storage import engine_safe_url

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.callback()
def _group() -> None:
    """Show the effective configuration."""


@app.command("show")
def show(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Print every setting, its value and its source (default, farm.toml or environment)."""
    current = load_settings()
    rows = []
    for setting in current.values.values():
        value = setting.value
        if setting.name == "database_url" and value:
            value = engine_safe_url(value)
        if setting.name == "database_url" and not value:
            value = current.effective_database_url
        rows.append({"name": setting.name, "value": value, "source": setting.source,
                     "description": setting.description})
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table(title=f"farm configuration (file: {current.config_file or 'none'})")
    for column in ("setting", "value", "source", "meaning"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], str(row["value"]), row["source"], row["description"])
    console.print(table)
